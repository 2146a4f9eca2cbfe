// The environment contract: every variable the service reads, its type, its default, and its limits.
// Validated once at start; the rest of the code reads the typed AppConfig built from it.
import { plainToInstance, Transform } from 'class-transformer';
import { parseRoutes, Route } from '../messages/providers/router';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  MaxLength,
  Min,
  validateSync,
  ValidationError,
} from 'class-validator';

const toInt = ({ value }: { value: unknown }) =>
  value === undefined || value === ''
    ? undefined
    : /^-?\d+$/.test(String(value).trim())
      ? Number(value)
      : value;
const toBool = ({ value }: { value: unknown }) => {
  if (value === undefined || value === '') return undefined;
  const v = String(value).trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  return value;
};
const toNumber = ({ value }: { value: unknown }) =>
  value === undefined || value === ''
    ? undefined
    : /^\s*-?(\d+\.?\d*|\.\d+)\s*$/.test(String(value))
      ? Number(value)
      : value;
/** An empty or blank value is no value: `SECRET="   "` counts as unset, never as a secret of spaces. */
const emptyToUndefined = ({ value }: { value: unknown }) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const SMS_PROVIDERS = ['console', 'twilio', 'smpp', 'msg91'] as const;
export const APP_ROLES = ['api', 'worker', 'all'] as const;
export type AppRole = (typeof APP_ROLES)[number];

/** libphonenumber's number types, as OTP_ALLOWED_NUMBER_TYPES names them. */
export const NUMBER_TYPES = [
  'mobile',
  'fixed_line_or_mobile',
  'fixed_line',
  'premium_rate',
  'toll_free',
  'shared_cost',
  'voip',
  'personal_number',
  'pager',
  'uan',
  'voicemail',
  'satellite',
];

export class Env {
  @IsOptional() @IsIn(['development', 'production', 'test']) NODE_ENV: string = 'development';
  @Transform(toInt) @IsInt() @Min(0) @Max(65535) PORT: number = 3000;
  @IsOptional() @IsIn(APP_ROLES) APP_ROLE?: AppRole = undefined;
  @Transform(toInt) @IsInt() @Min(1000) @Max(120000) SHUTDOWN_TIMEOUT_MS: number = 10000;
  @Transform(toInt) @IsInt() @Min(1024) @Max(50 * 1024 * 1024) BODY_LIMIT_BYTES: number = 1024 * 1024;
  @Transform(emptyToUndefined) @IsOptional() @IsString() TRUST_PROXY?: string = undefined;

  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^rediss?:\/\/[^\s]+$/, {
    message: 'REDIS_URL must look like redis://[:password@]host:port/db or rediss://…',
  })
  REDIS_URL?: string = undefined;
  @IsString() REDIS_HOST: string = 'localhost';
  @Transform(toInt) @IsInt() @Min(1) @Max(65535) REDIS_PORT: number = 6379;
  @Transform(emptyToUndefined) @IsOptional() @IsString() REDIS_PASSWORD?: string = undefined;
  @Transform(toInt) @IsInt() @Min(0) @Max(15) REDIS_DB: number = 0;
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^\s*[^\s:,]+:\d+(\s*,\s*[^\s:,]+:\d+)*\s*$/, {
    message: 'REDIS_CLUSTER_NODES must be host:port,host:port',
  })
  REDIS_CLUSTER_NODES?: string = undefined;
  // No braces: the service chooses every key's hash tag itself (see RedisKeys), and a tag in the prefix would
  // put every key in one Redis Cluster slot.
  @Matches(/^[A-Za-z0-9_:.-]{0,64}$/, {
    message:
      'REDIS_KEY_PREFIX may hold letters, digits, _ - . : (64 at most; no { }: the service chooses hash tags)',
  })
  REDIS_KEY_PREFIX: string = 'smsb:';
  @Transform(toInt) @IsInt() @Min(50) @Max(60000) REDIS_COMMAND_TIMEOUT_MS: number = 1000;

  @Matches(/^postgres(ql)?:\/\/[^\s]+$/, { message: 'DATABASE_URL must be a postgres:// URL' })
  DATABASE_URL: string = 'postgres://postgres@localhost:5432/sms_bridge';
  @Transform(toInt) @IsInt() @Min(1) @Max(200) DB_POOL_SIZE: number = 10;
  @Transform(toInt) @IsInt() @Min(100) @Max(120000) DB_CONNECT_TIMEOUT_MS: number = 3000;
  @Transform(toInt) @IsInt() @Min(100) @Max(600000) DB_STATEMENT_TIMEOUT_MS: number = 10000;
  @Transform(toBool) @IsBoolean() MIGRATIONS_RUN: boolean = true;

  @Transform(emptyToUndefined)
  @IsString({ message: 'API_KEYS is required (comma-separated client keys)' })
  API_KEYS: string = undefined as unknown as string;
  @Transform(emptyToUndefined) @IsOptional() @IsString() ADMIN_API_KEYS?: string = undefined;
  @Transform(emptyToUndefined) @IsOptional() @IsString() GATEWAY_API_KEYS?: string = undefined;
  @Transform(emptyToUndefined) @IsOptional() @IsString() OTP_SECRET?: string = undefined;
  @Transform(emptyToUndefined) @IsOptional() @IsString() JWT_SECRET?: string = undefined;
  @Transform(emptyToUndefined) @IsOptional() @IsString() ONBOARDING_SECRET?: string = undefined;
  @Transform(emptyToUndefined) @IsOptional() @IsString() WEBHOOK_SIGNING_SECRET?: string = undefined;

  /** Device binding (POST /onboard/bind): the number apps text their token to, a long number or a short code. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^(\+[1-9]\d{5,14}|\d{3,8})$/, {
    message: 'ONBOARDING_VMN must be a number in E.164 (+919876543210) or a short code of 3 to 8 digits',
  })
  ONBOARDING_VMN?: string = undefined;
  @Transform(toInt) @IsInt() @Min(1) @Max(1000) ONBOARDING_DEVICE_TOKENS_PER_DAY: number = 3;
  @Transform(toInt) @IsInt() @Min(60) @Max(86400) ONBOARDING_TOKEN_TTL_SECONDS: number = 900;

  @Transform(toInt) @IsInt() @Min(1) @Max(1_000_000) ABUSE_THRESHOLD: number = 10;
  @Transform(toInt) @IsInt() @Min(1) @Max(86400) ABUSE_CHECK_INTERVAL: number = 60;
  @Transform(toInt) @IsInt() @Min(1) @Max(31_536_000) ABUSE_BLACKLIST_TTL: number = 86400;
  /** The answers to STOP, START and HELP at the inbound doors (empty: no reply). */
  @IsString() @MaxLength(1600) OPT_OUT_REPLY: string =
    'You are unsubscribed and will get no more messages from us. Reply START to subscribe again.';
  @IsString() @MaxLength(1600) OPT_IN_REPLY: string =
    'You are subscribed again. Reply STOP to unsubscribe, HELP for help.';
  @IsString() @MaxLength(1600) HELP_REPLY: string = 'Reply STOP to unsubscribe, START to subscribe again.';
  @Transform(toInt) @IsInt() @Min(1) @Max(10000) MONITOR_BATCH_SIZE: number = 100;
  @Transform(toInt) @IsInt() @Min(1) @Max(86400) MONITOR_LOG_INTERVAL: number = 30;
  @Transform(toInt) @IsInt() @Min(1) @Max(3600) WORKER_HEARTBEAT_INTERVAL: number = 10;
  @Transform(toInt) @IsInt() @Min(1) @Max(36_500) AUDIT_RETENTION_DAYS: number = 90;
  @Transform(toInt) @IsInt() @Min(1) @Max(36_500) MESSAGE_EVENT_RETENTION_DAYS: number = 365;
  @Transform(toBool) @IsBoolean() SYNC_MESSAGE_PROCESSING: boolean = false;
  @Transform(toInt) @IsInt() @Min(1) @Max(500) MESSAGE_WORKER_CONCURRENCY: number = 50;
  @Transform(toInt) @IsInt() @Min(1) @Max(50) MESSAGE_MAX_ATTEMPTS: number = 5;
  @Transform(toInt) @IsInt() @Min(10) @Max(600000) MESSAGE_BACKOFF_MS: number = 1000;
  @Transform(toInt) @IsInt() @Min(1) @Max(3600) MESSAGE_RELAY_INTERVAL: number = 5;
  @Transform(toInt) @IsInt() @Min(1) @Max(100000) SMS_RATE_LIMIT_PER_SECOND: number = 100;
  @Transform(toInt) @IsInt() @Min(1) @Max(100000) EMAIL_RATE_LIMIT_PER_SECOND: number = 50;
  @Transform(toInt) @IsInt() @Min(1) @Max(50) WEBHOOK_MAX_ATTEMPTS: number = 8;
  /** Status callbacks to loopback and private addresses (default: false with NODE_ENV=production). */
  @Transform(toBool) @IsOptional() @IsBoolean() WEBHOOK_ALLOW_PRIVATE_URLS?: boolean = undefined;
  @Transform(toInt) @IsInt() @Min(1000) @Max(120000) PROVIDER_TIMEOUT_MS: number = 10000;

  @IsIn(SMS_PROVIDERS) SMS_PROVIDER: string = 'console';
  /**
   * The console provider logs a message and marks it delivered without sending it: with NODE_ENV=production a
   * route may name it only when this says so (a demo or a staging copy), never by default.
   */
  @Transform(toBool) @IsBoolean() SMS_CONSOLE_IN_PRODUCTION: boolean = false;
  /** Destination prefix → providers in failover order: `+91=msg91>smpp;*=twilio>smpp` (default `*=SMS_PROVIDER`). */
  @Transform(emptyToUndefined) @IsOptional() @IsString() @MaxLength(2000) SMS_ROUTES?: string = undefined;
  /** Sends per second per provider, all workers together: `twilio:100,smpp:200` (unlisted: no limit of its own). */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^\s*[a-z0-9]+:\d{1,6}\s*(,\s*[a-z0-9]+:\d{1,6}\s*)*$/, {
    message: 'SMS_PROVIDER_RATES must read provider:per_second,… such as twilio:100,smpp:200',
  })
  SMS_PROVIDER_RATES?: string = undefined;
  @Transform(toInt) @IsInt() @Min(1) @Max(1000) CIRCUIT_FAILURES: number = 5;
  @Transform(toInt) @IsInt() @Min(1) @Max(3600) CIRCUIT_OPEN_SECONDS: number = 30;
  @IsIn(['console', 'smtp']) EMAIL_PROVIDER: string = 'console';
  @Transform(emptyToUndefined) @IsOptional() @IsString() TWILIO_ACCOUNT_SID?: string = undefined;
  @Transform(emptyToUndefined) @IsOptional() @IsString() TWILIO_AUTH_TOKEN?: string = undefined;
  @Transform(emptyToUndefined) @IsOptional() @IsString() TWILIO_FROM_NUMBER?: string = undefined;
  /** A Twilio Messaging Service (sender pool): sent as MessagingServiceSid instead of From. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^MG[0-9a-fA-F]{32}$/, {
    message: 'TWILIO_MESSAGING_SERVICE_SID must look like MG followed by 32 hex digits',
  })
  TWILIO_MESSAGING_SERVICE_SID?: string = undefined;
  @Transform(toInt) @IsInt() @Min(1) @Max(100) MAX_SEGMENTS: number = 10;
  /** India DLT: the principal entity id registered with the operators, sent with every SMS that takes it. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^\d{1,30}$/, { message: 'DLT_ENTITY_ID must be the digits of a DLT entity id' })
  DLT_ENTITY_ID?: string = undefined;
  /** Refuse an SMS to +91 without a DLT content-template id (400 DLT_TEMPLATE_REQUIRED). */
  @Transform(toBool) @IsBoolean() DLT_ENFORCE: boolean = false;
  /** WebOTP: the origin-bound last line `@domain #code` of OTP texts (sms-one-time-codes). */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i, {
    message: 'OTP_WEBOTP_DOMAIN must be a host name such as example.com',
  })
  OTP_WEBOTP_DOMAIN?: string = undefined;
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  TWILIO_BASE_URL: string = 'https://api.twilio.com';
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  PUBLIC_BASE_URL?: string = undefined;
  /** smpp://system_id:password@host:port (ssmpp:// for TLS): the SMSC the worker keeps a bind_transceiver to. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^s?smpp:\/\/[^\s:@/]+:[^\s@/]*@[^\s:/]+(:\d{1,5})?\/?$/, {
    message: 'SMPP_URL must look like smpp://system_id:password@host:port',
  })
  SMPP_URL?: string = undefined;
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^(\+?\d{1,15}|[A-Za-z0-9 ]{1,11})$/, {
    message:
      'SMPP_SOURCE_ADDR must be a number (+ and up to 15 digits) or an alphanumeric sender of up to 11',
  })
  SMPP_SOURCE_ADDR?: string = undefined;
  @Transform(emptyToUndefined) @IsOptional() @IsString() SMPP_SYSTEM_TYPE?: string = undefined;
  /** submit_sm sent and not yet answered, at most (the SMSC's window). */
  @Transform(toInt) @IsInt() @Min(1) @Max(1000) SMPP_WINDOW: number = 10;
  @Transform(toInt) @IsInt() @Min(5) @Max(3600) SMPP_ENQUIRE_LINK_SECONDS: number = 30;
  @Transform(emptyToUndefined) @IsOptional() @IsString() MSG91_AUTH_KEY?: string = undefined;
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  MSG91_BASE_URL: string = 'https://control.msg91.com';
  @Transform(emptyToUndefined) @IsOptional() @IsString() MSG91_TEMPLATE_ID?: string = undefined;
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^[A-Za-z0-9]{3,11}$/, {
    message: 'MSG91_SENDER_ID must be 3 to 11 letters or digits (a DLT header is 6)',
  })
  MSG91_SENDER_ID?: string = undefined;
  /** The secret last segment of the delivery-report URL given to MSG91 ({PUBLIC_BASE_URL}/webhooks/msg91/status/{token}). */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^[A-Za-z0-9_-]{24,128}$/, {
    message: 'MSG91_WEBHOOK_TOKEN must be 24 to 128 letters, digits, _ or - (it is part of a URL)',
  })
  MSG91_WEBHOOK_TOKEN?: string = undefined;
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^smtps?:\/\/[^\s]+$/, { message: 'SMTP_URL must be smtp:// or smtps://' })
  SMTP_URL?: string = undefined;
  @Transform(emptyToUndefined) @IsOptional() @IsString() EMAIL_FROM?: string = undefined;

  @Matches(/^[A-Z]{2}$/, { message: 'DEFAULT_COUNTRY must be a two-letter ISO region such as IN or US' })
  DEFAULT_COUNTRY: string = 'IN';
  @IsIn(LOG_LEVELS) LOG_LEVEL: LogLevel = 'info';

  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^\s*\+?\d{1,4}(\s*,\s*\+?\d{1,4})*\s*$/, {
    message: 'OTP_ALLOWED_COUNTRIES must be calling codes such as 91,1,44',
  })
  OTP_ALLOWED_COUNTRIES?: string = undefined;
  @Transform(toInt) @IsInt() @Min(1) @Max(100_000_000) OTP_MAX_SENDS_PER_HOUR: number = 1000;
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^\s*\+\d{6,15}:\d{6}(\s*,\s*\+\d{6,15}:\d{6})*\s*$/, {
    message: 'OTP_TEST_NUMBERS must be +number:6-digit-code pairs, comma-separated',
  })
  OTP_TEST_NUMBERS?: string = undefined;
  @Transform(toBool) @IsBoolean() OTP_TEST_NUMBERS_IN_PRODUCTION: boolean = false;
  @Transform(toInt) @IsInt() @Min(1) @Max(3600) OTP_VALIDITY_SECONDS: number = 300;
  @Transform(toInt) @IsInt() @Min(0) @Max(3600) OTP_RESEND_COOLDOWN_SECONDS: number = 60;
  @Transform(toBool) @IsBoolean() OTP_WHATSAPP_SMS_FALLBACK: boolean = true;
  @Transform(toInt) @IsInt() @Min(1) @Max(1_000_000) OTP_SENDS_PER_NUMBER: number = 3;
  @Transform(toInt) @IsInt() @Min(1) @Max(86400) OTP_SENDS_WINDOW_SECONDS: number = 300;
  @Transform(toInt) @IsInt() @Min(1) @Max(100_000_000) OTP_REQUESTS_PER_IP: number = 10;
  @Transform(toInt) @IsInt() @Min(1) @Max(86400) OTP_REQUESTS_PER_IP_WINDOW_SECONDS: number = 60;
  @Transform(toInt) @IsInt() @Min(1) @Max(100_000_000) OTP_SENDS_PER_CLIENT_PER_MINUTE: number = 600;
  @Matches(new RegExp(`^\\s*(${NUMBER_TYPES.join('|')})(\\s*,\\s*(${NUMBER_TYPES.join('|')}))*\\s*$`, 'i'), {
    message: `OTP_ALLOWED_NUMBER_TYPES must be number types among ${NUMBER_TYPES.join(', ')}`,
  })
  OTP_ALLOWED_NUMBER_TYPES: string = 'mobile,fixed_line_or_mobile';
  // SMS-pumping defence (docs/otp.md): a number's prefix is it without its last OTP_PREFIX_DIGITS digits.
  @Transform(toInt) @IsInt() @Min(1) @Max(10) OTP_PREFIX_DIGITS: number = 3;
  /** Sends per prefix per sliding hour; unset: no cap. */
  @Transform(toInt) @IsOptional() @IsInt() @Min(1) @Max(100_000_000) OTP_PREFIX_SENDS_PER_HOUR?: number =
    undefined;
  /** Sends per country (ISO region) per sliding hour, `IN:50000,GB:200`; a country not listed has no cap. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^\s*[A-Za-z]{2}\s*:\s*\d{1,9}(\s*,\s*[A-Za-z]{2}\s*:\s*\d{1,9})*\s*$/, {
    message: 'OTP_COUNTRY_SENDS_PER_HOUR must be ISO region:sends pairs such as IN:50000,GB:200',
  })
  OTP_COUNTRY_SENDS_PER_HOUR?: string = undefined;
  /** A prefix is judged on its verified ÷ sent ratio once it has this many sends in the sliding hour. */
  @Transform(toInt) @IsInt() @Min(1) @Max(100_000_000) OTP_PUMPING_MIN_SENDS: number = 20;
  /** Below this verified ÷ sent ratio a judged prefix is blocked (0 turns the rule off). */
  @Transform(toNumber) @IsNumber() @Min(0) @Max(1) OTP_PUMPING_MIN_RATIO: number = 0.1;
  /** hCaptcha / Turnstile-style siteverify URL: with OTP_CAPTCHA_SECRET, /otp/send requires captcha_token. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  OTP_CAPTCHA_VERIFY_URL?: string = undefined;
  @Transform(emptyToUndefined) @IsOptional() @IsString() OTP_CAPTCHA_SECRET?: string = undefined;
  @IsIn(['memory', 'none']) SESSION_FALLBACK: string = 'memory';
  @Transform(toInt) @IsInt() @Min(1) @Max(86400) SESSION_TTL_SECONDS: number = 1800;
  @Transform(toInt) @IsInt() @Min(1) @Max(86400) SESSION_ACTIVE_TTL_SECONDS: number = 3600;
  @Transform(toInt) @IsInt() @Min(1) @Max(86400) SESSION_IDLE_TTL_SECONDS: number = 900;
  @Transform(toInt) @IsInt() @Min(1) @Max(86400) SESSION_MAX_TTL_SECONDS: number = 7200;
  @Transform(toInt) @IsInt() @Min(1) @Max(86400) SESSION_ACTIVE_WINDOW_SECONDS: number = 300;
  @Transform(toInt) @IsInt() @Min(1) @Max(30 * 86400) SESSION_ABSOLUTE_LIFETIME_SECONDS: number = 86400;
  @Transform(toInt) @IsInt() @Min(1) @Max(1_000_000) SESSION_MEMORY_MAX: number = 10000;
  @Transform(toInt) @IsInt() @Min(1) @Max(86400) SESSION_CLEANUP_INTERVAL: number = 300;
  @Transform(toInt) @IsInt() @Min(1) @Max(86400) ACCESS_TOKEN_TTL_SECONDS: number = 900;
}

export const ENV_KEYS = Object.keys(new Env()) as (keyof Env)[];

/** The type checks say the most about a wrong value, so they are reported before range checks. */
const CONSTRAINT_ORDER = ['isInt', 'isNumber', 'isBoolean', 'isIn', 'isString', 'matches', 'isUrl'];

function describe(errors: ValidationError[]): string[] {
  return errors.map((e) => {
    const shown = e.value === undefined ? 'missing' : JSON.stringify(e.value);
    const secret = /SECRET|PASSWORD|TOKEN|KEYS|URL/.test(e.property) && e.value !== undefined;
    const constraints = e.constraints ?? {};
    const first = CONSTRAINT_ORDER.find((c) => c in constraints) ?? Object.keys(constraints)[0];
    // One line per variable: the most telling problem only.
    return `${e.property}: ${constraints[first]} (got ${secret ? 'a value that is not valid' : shown})`;
  });
}

export class InvalidConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'InvalidConfigError';
  }
}

/** The service's own client id: OTP messages are stored under it, so no key may claim it. */
export const OTP_CLIENT_ID = 'otp';

/**
 * The entries of a key list: `id:secret` gives the client a stable id shared by all its keys (rotation: add the
 * new secret under the same id, later remove the old one); a bare secret has no id of its own (the guard derives
 * one from the key, as before ids existed).
 */
export function keyEntries(value?: string): { id?: string; secret: string }[] {
  return (value ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)
    .map((e) => {
      const m = /^([A-Za-z0-9_.-]{1,64}):(.*)$/.exec(e);
      return m ? { id: m[1], secret: m[2].trim() } : { secret: e };
    });
}

/** Validates raw variables (process.env merged with .env) and returns the typed Env, or throws one line per problem. */
/** SMS_ROUTES read (a `*` route of SMS_PROVIDER added when none is given); throws naming what is wrong. */
export function smsRoutes(env: Pick<Env, 'SMS_ROUTES' | 'SMS_PROVIDER'>): Route[] {
  return parseRoutes(env.SMS_ROUTES ?? '', env.SMS_PROVIDER, SMS_PROVIDERS);
}

/** SMS_PROVIDER_RATES read: provider → sends per second (its shape is checked by the Env class). */
export function providerRates(env: Pick<Env, 'SMS_PROVIDER_RATES'>): Record<string, number> {
  return Object.fromEntries(
    (env.SMS_PROVIDER_RATES ?? '')
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean)
      .map((e) => {
        const [name, n] = e.split(':');
        return [name.trim(), Number(n)];
      }),
  );
}

/** The routes, or none when SMS_ROUTES cannot be read (its own problem is reported by validateEnv). */
function routesOrNone(env: Env): Route[] {
  try {
    return smsRoutes(env);
  } catch {
    return [];
  }
}

/** Every SMS provider a route names (each needs its settings). */
function usedProviders(env: Env): Set<string> {
  const routes = routesOrNone(env);
  return new Set(routes.length ? routes.flatMap((r) => r.providers) : [env.SMS_PROVIDER]);
}

/**
 * Settings that start but cannot do what they say: a rate that never lets a send through, a rate for a
 * provider no route uses (a typo such as twillio:100 limits nothing), enforced DLT without the entity id.
 */
function providerProblems(env: Env): string[] {
  const problems: string[] = [];
  const used = usedProviders(env);
  for (const [name, rate] of Object.entries(providerRates(env))) {
    if (!(SMS_PROVIDERS as readonly string[]).includes(name))
      problems.push(`SMS_PROVIDER_RATES: ${name} is not a provider (${SMS_PROVIDERS.join(', ')})`);
    else if (!used.has(name))
      problems.push(
        `SMS_PROVIDER_RATES: ${name} is in no route (SMS_ROUTES, SMS_PROVIDER): its rate limits nothing`,
      );
    if (rate < 1)
      problems.push(`SMS_PROVIDER_RATES: ${name}:${rate} would never let a send through (at least 1)`);
  }
  if (env.NODE_ENV !== 'production') return problems;
  if (!env.SMS_CONSOLE_IN_PRODUCTION)
    for (const r of routesOrNone(env))
      if (r.providers.includes('console'))
        problems.push(
          `SMS_ROUTES: the route ${r.prefix || '*'}=${r.providers.join('>')} uses console, which marks messages ` +
            'delivered without sending them; name a real provider (a missing * route is *=SMS_PROVIDER), or set ' +
            'SMS_CONSOLE_IN_PRODUCTION=true',
        );
  if (env.DLT_ENFORCE && !env.DLT_ENTITY_ID)
    problems.push('DLT_ENTITY_ID: required with DLT_ENFORCE=true in production (sent with every SMS to +91)');
  return problems;
}

export function validateEnv(raw: Record<string, string | undefined>): Env {
  const known: Record<string, string> = {};
  for (const key of ENV_KEYS) {
    const value = raw[key];
    if (value !== undefined) known[key] = value;
  }
  const env = plainToInstance(Env, known, { exposeDefaultValues: true });
  const problems = describe(validateSync(env, { skipMissingProperties: false }));
  try {
    smsRoutes(env);
  } catch (err) {
    problems.push(`SMS_ROUTES: ${(err as Error).message}`);
  }
  if (env.NODE_ENV === 'production') {
    for (const name of ['OTP_SECRET', 'JWT_SECRET', 'ONBOARDING_SECRET', 'WEBHOOK_SIGNING_SECRET'] as const) {
      if (!env[name]) problems.push(`${name}: required when NODE_ENV=production`);
      else if (env[name]!.trim().length < 32)
        problems.push(
          `${name}: must be at least 32 characters (not counting surrounding blanks) in production`,
        );
    }
    if (usedProviders(env).has('twilio') && !/^https:\/\//i.test(env.PUBLIC_BASE_URL ?? ''))
      problems.push(
        'PUBLIC_BASE_URL: required, as an https:// URL, with twilio as an SMS provider in production (Twilio calls it back)',
      );
    const secrets = (v?: string) => keyEntries(v).map((k) => k.secret);
    const client = secrets(env.API_KEYS);
    for (const other of ['ADMIN_API_KEYS', 'GATEWAY_API_KEYS'] as const) {
      const keys = new Set(secrets(env[other]));
      if (client.some((k) => keys.has(k)))
        problems.push(
          `API_KEYS, ${other}: a key is in both; each scope's keys must be its own in production`,
        );
    }
  }
  if (env.API_KEYS !== undefined && !keyEntries(env.API_KEYS).length)
    problems.push('API_KEYS: holds no key (comma-separated client keys)');
  for (const name of ['API_KEYS', 'ADMIN_API_KEYS', 'GATEWAY_API_KEYS'] as const) {
    const entries = keyEntries(env[name]);
    if (entries.some((k) => k.id?.toLowerCase() === OTP_CLIENT_ID))
      problems.push(`${name}: the key id '${OTP_CLIENT_ID}' is the service's own (its OTP messages)`);
    if (entries.some((k) => !k.secret))
      problems.push(`${name}: an entry has an id but no secret (id:secret, the secret not blank)`);
    const idOf = new Map<string, string | undefined>();
    for (const e of entries) {
      if (idOf.has(e.secret) && idOf.get(e.secret) !== e.id)
        problems.push(`${name}: one key is listed under two ids; a key belongs to one client`);
      idOf.set(e.secret, e.id);
    }
  }
  if (!env.OTP_CAPTCHA_VERIFY_URL !== !env.OTP_CAPTCHA_SECRET)
    problems.push('OTP_CAPTCHA_VERIFY_URL, OTP_CAPTCHA_SECRET: set both (CAPTCHA on /otp/send) or neither');
  problems.push(...providerProblems(env));
  const used = usedProviders(env);
  if (used.has('twilio')) {
    for (const name of ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN'] as const) {
      if (!env[name])
        problems.push(`${name}: required when twilio is an SMS provider (SMS_PROVIDER, SMS_ROUTES)`);
    }
    if (!env.TWILIO_FROM_NUMBER && !env.TWILIO_MESSAGING_SERVICE_SID)
      problems.push(
        'TWILIO_FROM_NUMBER: required when twilio is an SMS provider (SMS_PROVIDER, SMS_ROUTES), unless TWILIO_MESSAGING_SERVICE_SID is set',
      );
  }
  if (used.has('smpp')) {
    if (!env.SMPP_URL)
      problems.push('SMPP_URL: required when smpp is an SMS provider (SMS_PROVIDER, SMS_ROUTES)');
    if (!env.SMPP_SOURCE_ADDR)
      problems.push('SMPP_SOURCE_ADDR: required when smpp is an SMS provider (SMS_PROVIDER, SMS_ROUTES)');
  }
  if (used.has('msg91')) {
    for (const name of ['MSG91_AUTH_KEY', 'MSG91_TEMPLATE_ID', 'MSG91_WEBHOOK_TOKEN'] as const) {
      if (!env[name])
        problems.push(`${name}: required when msg91 is an SMS provider (SMS_PROVIDER, SMS_ROUTES)`);
    }
  }
  if (env.EMAIL_PROVIDER === 'smtp') {
    if (!env.SMTP_URL) problems.push('SMTP_URL: required when EMAIL_PROVIDER=smtp');
    if (!env.EMAIL_FROM) problems.push('EMAIL_FROM: required when EMAIL_PROVIDER=smtp');
  }
  const ttls = [
    'SESSION_IDLE_TTL_SECONDS',
    'SESSION_TTL_SECONDS',
    'SESSION_ACTIVE_TTL_SECONDS',
    'SESSION_MAX_TTL_SECONDS',
  ] as const;
  for (let i = 1; i < ttls.length; i++) {
    const [lower, higher] = [env[ttls[i - 1]], env[ttls[i]]];
    if (typeof lower === 'number' && typeof higher === 'number' && lower > higher) {
      problems.push(`${ttls[i - 1]}: must not exceed ${ttls[i]} (${lower} > ${higher})`);
    }
  }
  if (problems.length) throw new InvalidConfigError(problems);
  return env;
}
