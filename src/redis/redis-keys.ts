// Every Redis key the service writes is named here, and nowhere else, so the layout can change in one place.
// Names are relative: the client adds REDIS_KEY_PREFIX (ioredis keyPrefix) to every key it sends.
export const RedisKeys = {
  onboardHash: (mobile: string) => `onboard_hash:${mobile}`,
  onboardedNumbers: () => 'out_sms_numbers',
  /** Manual blacklist entries (admin): block onboarding, OTP and messages until removed. */
  blacklistedNumbers: () => 'blacklist_mobiles',
  /** An automatic blacklist entry (abuse detector): blocks onboarding only, expires after ABUSE_BLACKLIST_TTL. */
  autoBlacklisted: (mobile: string) => `blacklist_auto:${mobile}`,
  /**
   * Set for an hour when an admin adds or removes a number's blacklist entry: a warm-up that read Postgres
   * before that change leaves the number alone, so it neither undoes an addition nor revives a removal.
   */
  blacklistChangedByAdmin: (mobile: string) => `blacklist_admin_change:${mobile}`,
  abuseCounter: (mobile: string) => `abuse_counter:${mobile}`,
  /** Numbers whose abuse counter crossed the threshold since the detector last looked (a set). */
  abuseCandidates: () => 'abuse_candidates',
  auditQueue: () => 'sms_monitor_queue',
  /** Set once the onboarded and blacklist sets were loaded from Postgres; gone after a flush or data loss. */
  // v2: automatic blacklist entries moved out of the blacklist set into expiring keys (warmed once more).
  warmupMarker: () => 'warmup:onboarding_sets:v2',
  /** Inbound SMS already processed, by gateway sms_id, with the answer given (idempotency). */
  inboundSms: (smsId: string) => `inbound_sms:${smsId}`,
  otp: (mobile: string) => `otp:${mobile}`,
  otpAttempts: (mobile: string) => `otp:attempts:${mobile}`,
  otpStatus: (mobile: string) => `otp:status:${mobile}`,
  /** Sends of the current hour across all numbers (the SMS-pumping budget). */
  otpHourlyBudget: (hour: string) => `rate_limit:otp_budget:${hour}`,
  rateLimit: (action: string, identifier: string) => `rate_limit:${action}:${identifier}`,
  userVerification: (userId: string) => `user:verification:${userId}`,
  session: (id: string) => `session:${id}`,
  userSessions: (userId: string) => `user_sessions:${userId}`,
  tokenDenylist: (jti: string) => `blacklist:token:${jti}`,
  /** Sessions by expected expiry ("{id}:{user_id}"), walked by the session clean-up job (a sorted set). */
  sessionExpiries: () => 'session_expiry',
  cache: (namespace: string, key: string) => `cache:${namespace}:${key}`,
  cacheNamespacePattern: (namespace: string) => `cache:${namespace}:*`,
  idempotency: (clientId: string, key: string) => `idempotency:${clientId}:${key}`,
  /**
   * A provider's reports on a message id it gave us that no message carries yet (an SMPP receipt that came
   * before the submit_sm_resp was recorded, a webhook that beat the send's answer): a list, applied in order
   * once a message records that id, expiring unclaimed.
   */
  earlyProviderReports: (provider: string, providerMessageId: string) =>
    `provider_report:${provider}:${providerMessageId}`,
  workerHeartbeat: (name: string) => `worker:heartbeat:${name}`,
  /** An SMS provider's circuit breaker state (closed, open, half_open), written by the workers. */
  providerCircuit: (provider: string) => `circuit:${provider}`,
  lock: (job: string) => `lock:${job}`,
  /** Pub/sub channel on which replicas announce cache invalidations. */
  cacheInvalidationChannel: () => 'cache:invalidate',
} as const;
