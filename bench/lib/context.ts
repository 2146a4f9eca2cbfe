// What every part of `npm run bench` shares: its settings (BENCH_* variables), the service's key and secrets,
// and the numbers it uses.
export const env = process.env;
// Short rounds, several of them: this shared machine has slow spells of a few seconds (a round at two thirds
// of the speed of the next, on either side); more alternations keep one spell from deciding a median.
export const SECONDS = Number(env.BENCH_SECONDS ?? 2);
export const ROUNDS = Number(env.BENCH_ROUNDS ?? 4);
export const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 50);
export const E2E_SECONDS = Number(env.BENCH_E2E_SECONDS ?? 60);
export const SOAK_SECONDS = Number(env.BENCH_SOAK_SECONDS ?? 300);
export const PROBE = 200; // sequential requests for the per-request counts
/** BENCH_QUICK=1: the side-by-side scenarios only (for profiling rounds). */
export const QUICK = env.BENCH_QUICK === '1' || !!env.BENCH_ONLY;
/** BENCH_ONLY=<regular expression>: only the side-by-side scenarios whose name matches (implies BENCH_QUICK). */
export const ONLY = env.BENCH_ONLY ? new RegExp(env.BENCH_ONLY, 'i') : null;
export const selected = (name: string) => !ONLY || ONLY.test(name);
export const LARGE = Number(env.BENCH_LARGE ?? 1_000_000); // the large data set (members / rows)
export const COUNTERS = Number(env.BENCH_COUNTERS ?? 1_000_000); // abuse counters
export const DATABASE_URL = env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/sms_bridge_bench';
export const PREFIX = 'smsb-bench:';
export const KEY = 'bench-client-key-0123456789abcdef';
export const SECRETS = {
  OTP_SECRET: 'bench-otp-secret-0123456789abcdef0123456789',
  JWT_SECRET: 'bench-jwt-secret-0123456789abcdef0123456789',
  ONBOARDING_SECRET: 'bench-onboarding-secret-0123456789abcdef',
  WEBHOOK_SIGNING_SECRET: 'bench-webhook-secret-0123456789abcdef',
};
export const auth = { 'x-api-key': KEY };

/**
 * The API's environment in every bench tool: production, as the image runs it (`nodeOptions`, the Dockerfile's
 * NODE_OPTIONS), with the product's limits out of the way: one client drives the load from one IP.
 */
export const apiEnv = (redisUrl: string, nodeOptions: string): Record<string, string> => ({
  NODE_ENV: 'production',
  NODE_OPTIONS: nodeOptions,
  APP_ROLE: 'api',
  LOG_LEVEL: 'info',
  API_KEYS: KEY,
  ADMIN_API_KEYS: `admin-${KEY}`,
  // Production takes inbound SMS only from an SMS gateway's key (GATEWAY_API_KEYS).
  GATEWAY_API_KEYS: `gateway-${KEY}`,
  // Scenarios without a provider stand-in send through console, which production refuses unless asked.
  SMS_CONSOLE_IN_PRODUCTION: 'true',
  REDIS_URL: redisUrl,
  ...SECRETS,
  OTP_REQUESTS_PER_IP: '100000000',
  OTP_MAX_SENDS_PER_HOUR: '100000000',
  OTP_SENDS_PER_CLIENT_PER_MINUTE: '100000000',
  // Sequential numbers fill one prefix after another, mostly unverified: the pumping rules still run on every
  // send (their cost is measured) but never block one.
  OTP_PUMPING_MIN_SENDS: '100000000',
});
export const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

// Numbers: a new one for every request that needs one (valid Indian mobiles), never reused within a run.
let serial = 0;
export const fresh = () => `+919${String(serial++).padStart(9, '0')}`;

/** The command line that started this run, with the BENCH_* settings it was given (for the results page). */
export const COMMAND = [
  ...Object.keys(env)
    .filter((k) => k.startsWith('BENCH_'))
    .sort()
    .map((k) => `${k}=${/^[\w.,:/@+-]*$/.test(env[k]!) ? env[k] : `'${env[k]!.replace(/'/g, `'\\''`)}'`}`),
  env.npm_lifecycle_event ? `npm run ${env.npm_lifecycle_event}` : 'node bench/run.ts',
].join(' ');
