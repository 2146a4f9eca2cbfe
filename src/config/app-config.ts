// The typed configuration every other module injects. Built once from the validated Env.
import { setDefaultCountry } from '../common/phone';
import { randomBytes } from 'node:crypto';
import { keyEntries, providerRates, smsRoutes } from './env';
import type { Route } from '../messages/providers/router';
import type { AppRole, Env, LogLevel } from './env';

export type KeyEntry = ReturnType<typeof keyEntries>[number];

const list = (value?: string) =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export interface RedisConfig {
  url?: string;
  host: string;
  port: number;
  password?: string;
  db: number;
  clusterNodes: { host: string; port: number }[];
  keyPrefix: string;
  commandTimeoutMs: number;
}

export class AppConfig {
  readonly nodeEnv: string;
  readonly isProduction: boolean;
  readonly role: AppRole;
  readonly http: {
    port: number;
    bodyLimit: number;
    shutdownTimeoutMs: number;
    trustProxy?: string;
    publicBaseUrl: string;
  };
  readonly redis: RedisConfig;
  readonly database: {
    url: string;
    poolSize: number;
    connectTimeoutMs: number;
    statementTimeoutMs: number;
    migrationsRun: boolean;
  };
  /** Keys by scope: client (API_KEYS), admin (ADMIN_API_KEYS), SMS gateway (GATEWAY_API_KEYS, only POST /onboard/sms). */
  readonly auth: { apiKeys: KeyEntry[]; adminApiKeys: KeyEntry[]; gatewayApiKeys: KeyEntry[] };
  readonly secrets: { otp: string; jwt: string; onboarding: string; webhook: string };
  /** Device binding, the app-sent mode of reverse SMS (POST /onboard/bind). */
  readonly binding: {
    /** The number apps text their token to; binding answers 503 without it. */
    vmn?: string;
    /** Tokens a device may get per 24 h (from its first); past that it is refused until the 24 h are over. */
    tokensPerDay: number;
    tokenTtlSec: number;
  };
  readonly jobs: {
    abuseThreshold: number;
    abuseCheckIntervalSec: number;
    /** Seconds an automatic blacklist entry lasts (it blocks onboarding only). */
    abuseBlacklistTtlSec: number;
    monitorBatchSize: number;
    monitorLogIntervalSec: number;
    heartbeatIntervalSec: number;
    /** Days the audit trail (sms_monitor) and message events are kept: older partitions are dropped. */
    auditRetentionDays: number;
    messageEventRetentionDays: number;
  };
  /** What the inbound doors answer to the opt-out keywords (empty: no reply). */
  readonly keywordReplies: { opt_out: string; opt_in: string; help: string };
  readonly messages: {
    syncProcessing: boolean;
    smsProvider: string;
    emailProvider: string;
    twilio: {
      accountSid?: string;
      authToken?: string;
      fromNumber?: string;
      messagingServiceSid?: string;
      baseUrl: string;
    };
    /** SMPP_URL taken apart; absent without SMPP_URL. */
    smpp?: {
      host: string;
      port: number;
      tls: boolean;
      systemId: string;
      password: string;
      systemType?: string;
      sourceAddr: string;
      window: number;
      enquireLinkSec: number;
    };
    msg91: {
      authKey?: string;
      baseUrl: string;
      templateId?: string;
      senderId?: string;
      webhookToken?: string;
    };
    /** An SMS longer than this many segments is refused (MAX_SEGMENTS). */
    maxSegments: number;
    /** SMS_ROUTES, longest prefix first (a `*` route always last). */
    routes: Route[];
    circuit: { failures: number; openMs: number };
    /** Sends per second per provider (SMS_PROVIDER_RATES); a provider not listed has no limit of its own. */
    providerRates: Record<string, number>;
    /** India DLT: the entity id sent with SMS, and whether +91 SMS need a content-template id. */
    dlt: { entityId?: string; enforce: boolean };
    smtpUrl?: string;
    emailFrom?: string;
    workerConcurrency: number;
    maxAttempts: number;
    backoffMs: number;
    relayIntervalSec: number;
    smsPerSecond: number;
    emailPerSecond: number;
    webhookMaxAttempts: number;
    /** Status callbacks may reach loopback and private addresses (WEBHOOK_ALLOW_PRIVATE_URLS). */
    allowPrivateCallbackUrls: boolean;
    providerTimeoutMs: number;
  };
  readonly defaultCountry: string;
  readonly logLevel: LogLevel;
  readonly otp: {
    allowedCallingCodes: string[];
    maxSendsPerHour: number;
    testNumbers: Map<string, string>;
    validitySec: number;
    /** WebOTP: adds the origin-bound line `@domain #code` to OTP texts (OTP_WEBOTP_DOMAIN). */
    webOtpDomain?: string;
    resendCooldownSec: number;
    whatsappSmsFallback: boolean;
    /** Sends per number per window, and /otp/* requests per client IP per window (shared by replicas). */
    sendsPerNumber: { limit: number; windowSeconds: number };
    /** Send and verify requests per end-user IP per window (the `ip` field, or the address behind TRUST_PROXY). */
    requestsPerIp: { limit: number; windowSeconds: number };
    /** Sends per API key's client per minute, so one client cannot spend the others' hourly budget. */
    sendsPerClientPerMinute: number;
    /** Number types codes are sent to (premium-rate, toll-free ... are refused). */
    allowedNumberTypes: string[];
    /** The SMS-pumping defence (docs/otp.md): a prefix's velocity and verified ÷ sent ratio, a country's velocity. */
    pumping: {
      prefixDigits: number;
      prefixSendsPerHour?: number;
      /** ISO region → sends per sliding hour. */
      countrySendsPerHour: Map<string, number>;
      minSends: number;
      /** 0: the ratio rule is off. */
      minRatio: number;
    };
    /** siteverify (hCaptcha, Turnstile): /otp/send requires captcha_token when set. */
    captcha?: { verifyUrl: string; secret: string };
  };
  readonly sessionFallback: 'memory' | 'none';
  readonly sessions: {
    ttlSec: number;
    activeTtlSec: number;
    idleTtlSec: number;
    maxTtlSec: number;
    activeWindowSec: number;
    absoluteLifetimeSec: number;
    memoryMax: number;
    cleanupIntervalSec: number;
    accessTokenTtlSec: number;
  };
  /** Secrets that were not configured and were generated for this process only (development). */
  readonly generatedSecrets: string[] = [];

  constructor(env: Env, defaultRole: AppRole) {
    this.nodeEnv = env.NODE_ENV;
    this.isProduction = env.NODE_ENV === 'production';
    this.role = env.APP_ROLE ?? defaultRole;
    this.http = {
      port: env.PORT,
      bodyLimit: env.BODY_LIMIT_BYTES,
      shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
      trustProxy: env.TRUST_PROXY,
      publicBaseUrl: (env.PUBLIC_BASE_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, ''),
    };
    this.redis = {
      url: env.REDIS_URL,
      host: env.REDIS_HOST,
      port: env.REDIS_PORT,
      password: env.REDIS_PASSWORD,
      db: env.REDIS_DB,
      clusterNodes: list(env.REDIS_CLUSTER_NODES).map((hp) => {
        const [host, port] = hp.split(':');
        return { host, port: Number(port) };
      }),
      keyPrefix: env.REDIS_KEY_PREFIX,
      commandTimeoutMs: env.REDIS_COMMAND_TIMEOUT_MS,
    };
    this.database = {
      url: env.DATABASE_URL,
      poolSize: env.DB_POOL_SIZE,
      connectTimeoutMs: env.DB_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS,
      migrationsRun: env.MIGRATIONS_RUN,
    };
    this.auth = {
      apiKeys: keyEntries(env.API_KEYS),
      adminApiKeys: keyEntries(env.ADMIN_API_KEYS),
      gatewayApiKeys: keyEntries(env.GATEWAY_API_KEYS),
    };
    const secret = (name: string, value?: string) => {
      if (value) return value;
      // Outside production a missing secret is replaced by a random one for this process; tokens and hashes
      // then do not survive a restart or match across replicas, which the start-up log says.
      this.generatedSecrets.push(name);
      return randomBytes(32).toString('base64url');
    };
    this.secrets = {
      otp: secret('OTP_SECRET', env.OTP_SECRET),
      jwt: secret('JWT_SECRET', env.JWT_SECRET),
      onboarding: secret('ONBOARDING_SECRET', env.ONBOARDING_SECRET),
      webhook: secret('WEBHOOK_SIGNING_SECRET', env.WEBHOOK_SIGNING_SECRET),
    };
    this.binding = {
      vmn: env.ONBOARDING_VMN,
      tokensPerDay: env.ONBOARDING_DEVICE_TOKENS_PER_DAY,
      tokenTtlSec: env.ONBOARDING_TOKEN_TTL_SECONDS,
    };
    this.jobs = {
      abuseThreshold: env.ABUSE_THRESHOLD,
      abuseCheckIntervalSec: env.ABUSE_CHECK_INTERVAL,
      abuseBlacklistTtlSec: env.ABUSE_BLACKLIST_TTL,
      monitorBatchSize: env.MONITOR_BATCH_SIZE,
      monitorLogIntervalSec: env.MONITOR_LOG_INTERVAL,
      heartbeatIntervalSec: env.WORKER_HEARTBEAT_INTERVAL,
      auditRetentionDays: env.AUDIT_RETENTION_DAYS,
      messageEventRetentionDays: env.MESSAGE_EVENT_RETENTION_DAYS,
    };
    this.keywordReplies = { opt_out: env.OPT_OUT_REPLY, opt_in: env.OPT_IN_REPLY, help: env.HELP_REPLY };
    this.messages = {
      syncProcessing: env.SYNC_MESSAGE_PROCESSING,
      smsProvider: env.SMS_PROVIDER,
      emailProvider: env.EMAIL_PROVIDER,
      twilio: {
        accountSid: env.TWILIO_ACCOUNT_SID,
        authToken: env.TWILIO_AUTH_TOKEN,
        fromNumber: env.TWILIO_FROM_NUMBER,
        messagingServiceSid: env.TWILIO_MESSAGING_SERVICE_SID,
        baseUrl: env.TWILIO_BASE_URL.replace(/\/+$/, ''),
      },
      smpp: env.SMPP_URL ? smppConfig(env) : undefined,
      msg91: {
        authKey: env.MSG91_AUTH_KEY,
        baseUrl: env.MSG91_BASE_URL.replace(/\/+$/, ''),
        templateId: env.MSG91_TEMPLATE_ID,
        senderId: env.MSG91_SENDER_ID,
        webhookToken: env.MSG91_WEBHOOK_TOKEN,
      },
      smtpUrl: env.SMTP_URL,
      emailFrom: env.EMAIL_FROM,
      workerConcurrency: env.MESSAGE_WORKER_CONCURRENCY,
      maxAttempts: env.MESSAGE_MAX_ATTEMPTS,
      backoffMs: env.MESSAGE_BACKOFF_MS,
      relayIntervalSec: env.MESSAGE_RELAY_INTERVAL,
      smsPerSecond: env.SMS_RATE_LIMIT_PER_SECOND,
      emailPerSecond: env.EMAIL_RATE_LIMIT_PER_SECOND,
      webhookMaxAttempts: env.WEBHOOK_MAX_ATTEMPTS,
      allowPrivateCallbackUrls: env.WEBHOOK_ALLOW_PRIVATE_URLS ?? env.NODE_ENV !== 'production',
      providerTimeoutMs: env.PROVIDER_TIMEOUT_MS,
      maxSegments: env.MAX_SEGMENTS,
      routes: smsRoutes(env),
      circuit: { failures: env.CIRCUIT_FAILURES, openMs: env.CIRCUIT_OPEN_SECONDS * 1000 },
      providerRates: providerRates(env),
      dlt: { entityId: env.DLT_ENTITY_ID, enforce: env.DLT_ENFORCE },
    };
    this.defaultCountry = env.DEFAULT_COUNTRY;
    setDefaultCountry(env.DEFAULT_COUNTRY); // the phone-number boundary's reading of national numbers
    this.logLevel = env.LOG_LEVEL;
    this.otp = {
      allowedCallingCodes: list(env.OTP_ALLOWED_COUNTRIES).map((c) => c.replace(/^\+/, '')),
      maxSendsPerHour: env.OTP_MAX_SENDS_PER_HOUR,
      validitySec: env.OTP_VALIDITY_SECONDS,
      webOtpDomain: env.OTP_WEBOTP_DOMAIN,
      resendCooldownSec: env.OTP_RESEND_COOLDOWN_SECONDS,
      whatsappSmsFallback: env.OTP_WHATSAPP_SMS_FALLBACK,
      sendsPerNumber: { limit: env.OTP_SENDS_PER_NUMBER, windowSeconds: env.OTP_SENDS_WINDOW_SECONDS },
      requestsPerIp: {
        limit: env.OTP_REQUESTS_PER_IP,
        windowSeconds: env.OTP_REQUESTS_PER_IP_WINDOW_SECONDS,
      },
      sendsPerClientPerMinute: env.OTP_SENDS_PER_CLIENT_PER_MINUTE,
      allowedNumberTypes: list(env.OTP_ALLOWED_NUMBER_TYPES).map((t) => t.toLowerCase()),
      pumping: {
        prefixDigits: env.OTP_PREFIX_DIGITS,
        prefixSendsPerHour: env.OTP_PREFIX_SENDS_PER_HOUR,
        countrySendsPerHour: new Map(
          list(env.OTP_COUNTRY_SENDS_PER_HOUR).map((pair) => {
            const [region, n] = pair.split(':');
            return [region.trim().toUpperCase(), Number(n)] as const;
          }),
        ),
        minSends: env.OTP_PUMPING_MIN_SENDS,
        minRatio: env.OTP_PUMPING_MIN_RATIO,
      },
      captcha:
        env.OTP_CAPTCHA_VERIFY_URL && env.OTP_CAPTCHA_SECRET
          ? { verifyUrl: env.OTP_CAPTCHA_VERIFY_URL, secret: env.OTP_CAPTCHA_SECRET }
          : undefined,
      testNumbers: new Map(
        this.isProduction && !env.OTP_TEST_NUMBERS_IN_PRODUCTION
          ? []
          : list(env.OTP_TEST_NUMBERS).map((pair) => pair.split(':') as [string, string]),
      ),
    };
    this.sessionFallback = env.SESSION_FALLBACK as 'memory' | 'none';
    this.sessions = {
      ttlSec: env.SESSION_TTL_SECONDS,
      activeTtlSec: env.SESSION_ACTIVE_TTL_SECONDS,
      idleTtlSec: env.SESSION_IDLE_TTL_SECONDS,
      maxTtlSec: env.SESSION_MAX_TTL_SECONDS,
      activeWindowSec: env.SESSION_ACTIVE_WINDOW_SECONDS,
      absoluteLifetimeSec: env.SESSION_ABSOLUTE_LIFETIME_SECONDS,
      memoryMax: env.SESSION_MEMORY_MAX,
      cleanupIntervalSec: env.SESSION_CLEANUP_INTERVAL,
      accessTokenTtlSec: env.ACCESS_TOKEN_TTL_SECONDS,
    };
  }

  get runsApi(): boolean {
    return this.role === 'api' || this.role === 'all';
  }

  get runsWorker(): boolean {
    return this.role === 'worker' || this.role === 'all';
  }
}

/** SMPP_URL (validated: smpp[s]://system_id:password@host[:port]) as connection settings. */
function smppConfig(env: Env): NonNullable<AppConfig['messages']['smpp']> {
  const u = new URL(env.SMPP_URL!);
  const tls = u.protocol === 'ssmpp:';
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : tls ? 3550 : 2775,
    tls,
    systemId: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    systemType: env.SMPP_SYSTEM_TYPE,
    sourceAddr: env.SMPP_SOURCE_ADDR ?? '',
    window: env.SMPP_WINDOW,
    enquireLinkSec: env.SMPP_ENQUIRE_LINK_SECONDS,
  };
}
