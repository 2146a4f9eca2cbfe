// Every Redis key the service writes is named here, and nowhere else, so the layout can change in one place.
// Names are relative: the client adds REDIS_KEY_PREFIX (ioredis keyPrefix) to every key it sends.
//
// The layout spreads over a Redis Cluster's shards while every multi-key step stays in one slot: the service
// chooses each key's hash tag (the part in braces, which alone decides the slot). Standalone Redis uses the
// same layout, so there is one code path. docs/scaling.md has the table of tags.
//
// - A number's keys carry its bucket's tag `{n<0..1023>}`. The bucket is a hash of the number's block (the
//   number without its last three digits), so the thousand numbers of a block share one bucket: their
//   onboarded and blacklist flags are bits of one small string per block (about 2 bytes a number at realistic
//   densities, against 57 in a set), and everything one script touches for a number shares one slot.
// - Queues of per-number work (the audit queue, the abuse candidates) are one per bucket, so the register
//   script can append to its bucket's; the background jobs walk every bucket.
// - A session id begins with its user's bucket (two hex digits, `{s<xx>}`), so creating, listing and revoking
//   a user's sessions touches one slot; the clean-up job walks every bucket's expiry set.
// - Rate-limit counters are tagged by what they count (an IP, an API key), the hourly budget by its hour.
// - Small service-wide keys (heartbeats, circuits, locks) share `{ops}`; a cache namespace its own tag.

/** How many buckets numbers are hashed into (fixed: changing it moves every number's keys). */
export const NUMBER_BUCKETS = 1024;
/** How many buckets users (and so sessions) are hashed into: a session id's first two hex digits. */
export const SESSION_BUCKETS = 256;
/** Digits at the end of a number that index its bit in the block's flags (1000 numbers a block). */
export const BLOCK_DIGITS = 3;

/** 32-bit FNV-1a: stable across processes and versions (a bucket must never move). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A number's block: all of it but its last three digits. */
export const numberBlock = (mobile: string) => mobile.slice(0, -BLOCK_DIGITS);
/** The number's bit in its block's flags. */
export const numberOffset = (mobile: string) => Number(mobile.slice(-BLOCK_DIGITS));
/** The bucket (0..NUMBER_BUCKETS-1) of a number, from its block. */
export const numberBucket = (mobile: string) => fnv1a(numberBlock(mobile)) % NUMBER_BUCKETS;
const bucketTag = (bucket: number) => `{n${bucket}}`;
const numberTag = (mobile: string) => bucketTag(numberBucket(mobile));
/**
 * The tag of an OTP number prefix's keys: with three digits cut (OTP_PREFIX_DIGITS=3) the prefix is the number's
 * block, so its keys share the number's slot and the send script checks them; otherwise the prefix has its own.
 */
const prefixTag = (prefix: string, digits: number) =>
  digits === BLOCK_DIGITS ? bucketTag(fnv1a(prefix) % NUMBER_BUCKETS) : `{otp_prefix:${prefix}}`;
/** Every bucket number, for the jobs that walk them all. */
export const allNumberBuckets = (): number[] => Array.from({ length: NUMBER_BUCKETS }, (_, i) => i);

/** The user bucket, as the two lower-case hex digits a session id starts with. */
export const userBucket = (userId: string) => (fnv1a(userId) % SESSION_BUCKETS).toString(16).padStart(2, '0');
/** The bucket a session id carries (its first two hex digits). */
export const sessionBucket = (sessionId: string) => sessionId.slice(0, 2).toLowerCase();
export const allSessionBuckets = (): string[] =>
  Array.from({ length: SESSION_BUCKETS }, (_, i) => i.toString(16).padStart(2, '0'));

export const RedisKeys = {
  onboardHash: (mobile: string) => `${numberTag(mobile)}:onboard_hash:${mobile}`,
  /** Onboarded numbers: one bit per number (numberOffset) in its block's string. */
  onboardedFlags: (mobile: string) => `${numberTag(mobile)}:onboarded:${numberBlock(mobile)}`,
  /** Manual blacklist entries (admin), as onboardedFlags: block onboarding, OTP and messages until removed. */
  blacklistFlags: (mobile: string) => `${numberTag(mobile)}:blacklist:${numberBlock(mobile)}`,
  /** Suppressed numbers (opted out by STOP, by a provider's report, or by an admin), as onboardedFlags. */
  suppressionFlags: (mobile: string) => `${numberTag(mobile)}:suppressed:${numberBlock(mobile)}`,
  /** Set for an hour when a number's suppression changes: a warm-up's older read of Postgres leaves it alone. */
  suppressionChanged: (mobile: string) => `${numberTag(mobile)}:suppression_change:${mobile}`,
  /** An automatic blacklist entry (abuse detector): blocks onboarding only, expires after ABUSE_BLACKLIST_TTL. */
  autoBlacklisted: (mobile: string) => `${numberTag(mobile)}:blacklist_auto:${mobile}`,
  /**
   * Set for an hour when an admin adds or removes a number's blacklist entry: a warm-up that read Postgres
   * before that change leaves the number alone, so it neither undoes an addition nor revives a removal.
   */
  blacklistChangedByAdmin: (mobile: string) => `${numberTag(mobile)}:blacklist_admin_change:${mobile}`,
  abuseCounter: (mobile: string) => `${numberTag(mobile)}:abuse_counter:${mobile}`,
  /** A bucket's numbers whose abuse counter crossed the threshold since the detector last looked (a set). */
  abuseCandidates: (bucket: number) => `${bucketTag(bucket)}:abuse_candidates`,
  abuseCandidatesOf: (mobile: string) => `${numberTag(mobile)}:abuse_candidates`,
  /** A bucket's audit events on their way to Postgres (a list). */
  auditQueue: (bucket: number) => `${bucketTag(bucket)}:audit_queue`,
  auditQueueOf: (mobile: string | null) => `${mobile ? numberTag(mobile) : bucketTag(0)}:audit_queue`,
  /**
   * Set in each bucket once the onboarded and blacklist flags were loaded from Postgres; gone after a flush or
   * a shard's data loss, which the bucket's scripts then notice.
   */
  warmupMarker: (bucket: number) => `${bucketTag(bucket)}:warm`,
  warmupMarkerOf: (mobile: string) => `${numberTag(mobile)}:warm`,
  /** The token of a warm-up under way in a bucket (gone with the bucket's data: the warm-up then leaves it cold). */
  warmupRun: (bucket: number) => `${bucketTag(bucket)}:warming`,
  /**
   * A device-binding token (a hash: bound number `m`, device digest `d`, state `s` live/used/burned), by the
   * token's digest, in the bucket its first two characters name: the bound number's, so the inbound step that
   * reads or consumes it shares the sender's slot when the sender is the bound number.
   */
  bindToken: (bucket: number, digest: string) => `${bucketTag(bucket)}:bind:${digest}`,
  /**
   * A device's keys (by the keyed digest of its device_id, which is also their tag): tokens asked for in the
   * current 24 h (a counter), the flag of a device whose token came from two numbers, its latest token while
   * unused (pending), when one of its tokens completed onboarding (verified), and its live tokens (a set).
   */
  deviceTokens: (device: string) => `{d:${device}}:device_tokens`,
  deviceFlag: (device: string) => `{d:${device}}:device_flag`,
  devicePending: (device: string) => `{d:${device}}:device_pending`,
  deviceVerified: (device: string) => `{d:${device}}:device_verified`,
  deviceLiveTokens: (device: string) => `{d:${device}}:device_live`,
  /** Inbound SMS already processed, by gateway sms_id, with the answer given (idempotency). */
  inboundSms: (smsId: string) => `inbound_sms:${smsId}`,
  otp: (mobile: string) => `${numberTag(mobile)}:otp:${mobile}`,
  otpAttempts: (mobile: string) => `${numberTag(mobile)}:otp_attempts:${mobile}`,
  otpStatus: (mobile: string) => `${numberTag(mobile)}:otp_status:${mobile}`,
  /** OTP sends to one number in the current window. */
  otpSendsPerNumber: (mobile: string) => `${numberTag(mobile)}:rate_limit:otp_send:${mobile}`,
  /**
   * An OTP number prefix's sends and verified codes in one hour (a hash: sent, verified), for its velocity and
   * verified ÷ sent ratio over a sliding hour. `digits`: OTP_PREFIX_DIGITS (see prefixTag).
   */
  otpPrefixStats: (prefix: string, digits: number, hour: string) =>
    `${prefixTag(prefix, digits)}:otp_prefix:${prefix}:${hour}`,
  /** A prefix blocked as suspected SMS pumping: JSON {since, country}, while the block can last. */
  otpPumpingBlock: (prefix: string, digits: number) => `${prefixTag(prefix, digits)}:otp_pumping:${prefix}`,
  /** The blocked prefixes admins list (a sorted set by prefix, scores 0), on one shard. */
  otpPumpingIndex: () => `{otp_pumping}:blocked`,
  /** A country's OTP sends and verified codes in one hour (a hash: sent, verified), on the country's shard. */
  otpCountryStats: (region: string, hour: string) => `{otp_country:${region}}:otp_country:${hour}`,
  /** Sends of the current hour across all numbers (the SMS-pumping budget): one key, on one shard. */
  otpHourlyBudget: (hour: string) => `rate_limit:{otp_budget:${hour}}`,
  /** A rate-limit counter, on the shard its identifier hashes to. */
  rateLimit: (action: string, identifier: string) => `rate_limit:{${action}:${identifier}}`,
  userVerification: (userId: string) => `{s${userBucket(userId)}}:user_verification:${userId}`,
  session: (id: string) => `{s${sessionBucket(id)}}:session:${id}`,
  userSessions: (userId: string) => `{s${userBucket(userId)}}:user_sessions:${userId}`,
  /** A revoked access token, in its session's bucket (the authenticate script reads both). */
  tokenDenylist: (sessionId: string, jti: string) => `{s${sessionBucket(sessionId)}}:denied_token:${jti}`,
  /** A bucket's sessions by expected expiry ("{id}:{user_id}"), walked by the clean-up job (a sorted set). */
  sessionExpiries: (bucket: string) => `{s${bucket}}:session_expiry`,
  cache: (namespace: string, key: string) => `cache:{${namespace}}:${key}`,
  cacheNamespacePattern: (namespace: string) => `cache:{${namespace}}:*`,
  idempotency: (clientId: string, key: string) => `idempotency:${clientId}:${key}`,
  /**
   * A provider's reports on a message id it gave us that no message carries yet (an SMPP receipt that came
   * before the submit_sm_resp was recorded, a webhook that beat the send's answer): a list, applied in order
   * once a message records that id, expiring unclaimed.
   */
  earlyProviderReports: (provider: string, providerMessageId: string) =>
    `provider_report:${provider}:${providerMessageId}`,
  workerHeartbeat: (name: string) => `{ops}:worker_heartbeat:${name}`,
  /** An SMS provider's circuit breaker state (closed, open, half_open), written by the workers. */
  providerCircuit: (provider: string) => `{ops}:circuit:${provider}`,
  lock: (job: string) => `lock:${job}`,
  /** Pub/sub channel on which replicas announce cache invalidations. */
  cacheInvalidationChannel: () => 'cache:invalidate',
} as const;
