// Property-based fuzzing of every endpoint in the OpenAPI document: generated malformed requests (see
// fuzz-requests.ts) must never get a 5xx, every 4xx must be in SPEC's error shape, and the service must stay up.
// The seed is fixed, and printed on a failure with the shrunk request: FUZZ_SEED=<seed> replays a run.
import fc from 'fast-check';
import { Operation, operations } from '../helpers/api-routes';
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';
import { problemWith, requestArb } from './fuzz-requests';

const SEED = Number(process.env.FUZZ_SEED ?? 20261122);
const RUNS_PER_OPERATION = Number(process.env.FUZZ_RUNS ?? 80);

describe('fuzz: malformed requests on every endpoint', () => {
  let t: TestApp;
  let ops: Operation[];
  let settings: unknown;
  let token: string | undefined;
  const testNumber = randomMobile();

  beforeAll(async () => {
    // Behind a trusted proxy, so each generated request comes from its own X-Forwarded-For address and the
    // per-IP OTP limit does not answer 429 to everything after the tenth.
    t = await startTestApp({ TRUST_PROXY: 'true', OTP_TEST_NUMBERS: `${testNumber}:135790` });
    ops = operations((await t.request({ url: '/docs-json', as: 'none' })).json());
    // The settings are global (Postgres): whatever the fuzzer manages to store is put back afterwards.
    settings = (await t.request({ url: '/admin/settings', as: 'admin' })).json();
    await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: testNumber, channel: 'sms' },
    });
    const verified = await t.request({
      method: 'POST',
      url: '/otp/verify',
      payload: { mobile_number: testNumber, otp: '135790' },
    });
    token = verified.json().access_token;
  });
  afterAll(async () => {
    if (settings) await t.request({ method: 'PUT', url: '/admin/settings', as: 'admin', payload: settings });
    await t?.close();
  });

  it(`answers ${RUNS_PER_OPERATION} generated requests per operation with no 5xx and the SPEC error shape`, async () => {
    expect(ops.length).toBeGreaterThan(25);
    let sent = 0;
    const failures: string[] = [];
    for (const [i, op] of ops.entries()) {
      const seed = SEED + i;
      try {
        await fc.assert(
          fc.asyncProperty(
            requestArb(op, () => token),
            async (req) => {
              sent++;
              const res = await t.app.inject({
                method: req.method as any,
                url: req.url,
                headers: req.headers,
                ...(req.body !== undefined && { payload: req.body }),
              });
              const problem = problemWith(req, res);
              if (problem) throw new Error(problem);
            },
          ),
          { seed, numRuns: RUNS_PER_OPERATION, includeErrorInReport: true },
        );
      } catch (err) {
        failures.push(
          `${op.method} ${op.path} (FUZZ_SEED=${SEED}, this operation's seed ${seed}):\n${(err as Error).message}`,
        );
      }
    }
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(2000);
    expect((await t.request({ url: '/health/live', as: 'none' })).statusCode).toBe(200);
    expect((await t.request({ url: '/health', as: 'none' })).statusCode).toBe(200);
  });
});
