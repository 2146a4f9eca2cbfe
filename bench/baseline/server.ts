// The floor: the service's hot paths written with nothing but Fastify, ioredis and pg (plus BullMQ's Queue for
// the one path that adds a job), using the service's own Lua scripts, key builder and pure helpers, so the
// same Redis keys and commands are used. No Nest, no guards, no pipes, no interceptors, no validation library,
// no logger: what the framework layers cost is the gap between this and the service.
//
// Run by bench/run.ts as a child process: env PORT, REDIS_URL, REDIS_KEY_PREFIX, DATABASE_URL, OTP_SECRET,
// JWT_SECRET, API_KEY.
import { createSecretKey, randomUUID, timingSafeEqual } from 'node:crypto';
import { Queue } from 'bullmq';
import Fastify from 'fastify';
import Redis from 'ioredis';
import { sign } from 'jsonwebtoken';
import { Pool } from 'pg';
import { normalizePhone } from '../../src/common/phone';
import { auditEvent } from '../../src/onboarding/audit-event';
import { generateHash } from '../../src/onboarding/hash';
import { runInboundChecks } from '../../src/onboarding/checks';
import { registerScript } from '../../src/onboarding/onboarding.scripts';
import { hashCode, newCode } from '../../src/otp/otp-code';
import { sendScript, velocityReserveScript, verifyScript } from '../../src/otp/otp.scripts';
import { rateLimitScript, reserveScript } from '../../src/common/rate-limit/rate-limit';
import {
  allNumberBuckets,
  BLOCK_DIGITS,
  numberBlock,
  numberOffset,
  RedisKeys,
  sessionBucket,
} from '../../src/redis/redis-keys';
import { serializeSession, parseSession, newSessionId } from '../../src/session/session-record';
import { touchScript } from '../../src/session/session.scripts';

const env = process.env;
const prefix = env.REDIS_KEY_PREFIX ?? 'smsb:';
const redis = new Redis(env.REDIS_URL!, { keyPrefix: prefix, enableOfflineQueue: true });
for (const s of [registerScript, verifyScript, sendScript, touchScript]) s.define(redis);
const pool = new Pool({ connectionString: env.DATABASE_URL, max: 10 });
const redisUrl = new URL(env.REDIS_URL!);
const sms = new Queue('sms', {
  connection: { host: redisUrl.hostname, port: Number(redisUrl.port), maxRetriesPerRequest: null },
  prefix: `${prefix}q:{sms}`, // the service's bullmqPrefix for the sms queue
});
const apiKey = Buffer.from(env.API_KEY ?? '');
const jwtKey = createSecretKey(Buffer.from(env.JWT_SECRET!)); // a string would be tried as a PEM key on every sign
const DAY = 86400;
// The defaults the service reads from its settings table.
const SETTINGS = { salt_length: 10, permitted_headers: ['ONBOARD'], abuse_threshold: 10 };

const app = Fastify({ logger: false });

function authorized(key: unknown): boolean {
  const k = Buffer.from(typeof key === 'string' ? key : '');
  return k.length === apiKey.length && timingSafeEqual(k, apiKey);
}

function fail(reply: { code(n: number): { send(b: unknown): unknown } }, status: number, code: string) {
  return reply.code(status).send({ statusCode: status, error: code, code, message: code });
}

app.get('/health/live', async () => ({ status: 'ok' }));

app.get<{ Params: { mobile: string } }>('/onboard/register/:mobile', async (req, reply) => {
  if (!authorized(req.headers['x-api-key'])) return fail(reply, 401, 'UNAUTHORIZED');
  let mobile: string;
  try {
    mobile = normalizePhone(req.params.mobile);
  } catch {
    return fail(reply, 400, 'INVALID_MOBILE_NUMBER');
  }
  const e = auditEvent('register', mobile, 'pending');
  const [outcome, hash] = await registerScript.run(
    redis,
    [
      RedisKeys.onboardedFlags(mobile),
      RedisKeys.blacklistFlags(mobile),
      RedisKeys.onboardHash(mobile),
      RedisKeys.auditQueueOf(mobile),
      RedisKeys.autoBlacklisted(mobile),
      RedisKeys.warmupMarkerOf(mobile),
    ],
    [mobile, generateHash(SETTINGS.salt_length), DAY, e.event_id, e.created_at, numberOffset(mobile), ''],
  );
  if (outcome === 'already_onboarded') return fail(reply, 409, 'ALREADY_ONBOARDED');
  if (outcome === 'blacklisted') return fail(reply, 403, 'BLACKLISTED');
  return { hash };
});

app.post<{ Body: { mobile_number: string; message: string; sms_id?: string } }>(
  '/onboard/sms',
  async (req, reply) => {
    if (!authorized(req.headers['x-api-key'])) return fail(reply, 401, 'UNAUTHORIZED');
    const body = req.body ?? ({} as never);
    if (typeof body.message !== 'string') return fail(reply, 400, 'VALIDATION_FAILED');
    let mobile: string;
    try {
      mobile = normalizePhone(body.mobile_number);
    } catch {
      return fail(reply, 400, 'INVALID_MOBILE_NUMBER');
    }
    if (body.sms_id && (await redis.set(RedisKeys.inboundSms(body.sms_id), '', 'EX', DAY, 'NX')) !== 'OK')
      return fail(reply, 409, 'SMS_IN_PROGRESS');
    const counter = RedisKeys.abuseCounter(mobile);
    const res = (await redis
      .multi()
      .getbit(RedisKeys.blacklistFlags(mobile), numberOffset(mobile))
      .incr(counter)
      .expire(counter, DAY, 'NX')
      .get(RedisKeys.onboardHash(mobile))
      .getbit(RedisKeys.onboardedFlags(mobile), numberOffset(mobile))
      .exists(RedisKeys.autoBlacklisted(mobile))
      .exists(RedisKeys.warmupMarkerOf(mobile))
      .exec())!;
    const snapshot = {
      blacklisted: res[0][1] === 1,
      inboundCount: Number(res[1][1]),
      storedHash: (res[3][1] as string | null) ?? null,
      onboarded: res[4][1] === 1,
    };
    if (snapshot.inboundCount > SETTINGS.abuse_threshold)
      await redis.sadd(RedisKeys.abuseCandidatesOf(mobile), mobile);
    const reason = runInboundChecks({
      mobile,
      message: body.message,
      settings: SETTINGS as never,
      ...snapshot,
    });
    // The bench drives the rejected path only (fresh numbers, no hash), as the service scenario does.
    const answer = reason ? { status: 'rejected', reason } : { status: 'verified' };
    await redis.rpush(
      RedisKeys.auditQueueOf(mobile),
      JSON.stringify(auditEvent('inbound_sms', mobile, answer.status, { reason: reason ?? undefined })),
    );
    if (body.sms_id) await redis.set(RedisKeys.inboundSms(body.sms_id), JSON.stringify(answer), 'EX', DAY);
    return answer;
  },
);

app.get<{ Params: { id: string } }>('/sessions/:id', async (req, reply) => {
  if (!authorized(req.headers['x-api-key'])) return fail(reply, 401, 'UNAUTHORIZED');
  const res = await touchScript.run(
    redis,
    [RedisKeys.session(req.params.id)],
    [new Date().toISOString(), 1800_000],
  );
  const record = res && parseSession(res[0]);
  if (!record) return fail(reply, 404, 'SESSION_NOT_FOUND');
  return { session_id: req.params.id, ...record };
});

app.post<{ Body: { mobile_number: string; otp: string } }>('/otp/verify', async (req, reply) => {
  if (!authorized(req.headers['x-api-key'])) return fail(reply, 401, 'UNAUTHORIZED');
  const body = req.body ?? ({} as never);
  if (typeof body.otp !== 'string' || !/^\d{6}$/.test(body.otp)) return fail(reply, 400, 'VALIDATION_FAILED');
  let mobile: string;
  try {
    mobile = normalizePhone(body.mobile_number);
  } catch {
    return fail(reply, 400, 'INVALID_MOBILE_NUMBER');
  }
  // The end-user IP's counter (its own slot), then the number's step, as the service does.
  await rateLimitScript.run(redis, [RedisKeys.rateLimit('otp_ip', req.ip)], [1, 60]);
  const [outcome, , raw] = await verifyScript.run(
    redis,
    [
      RedisKeys.otp(mobile),
      RedisKeys.otpAttempts(mobile),
      RedisKeys.otpStatus(mobile),
      RedisKeys.blacklistFlags(mobile),
      RedisKeys.warmupMarkerOf(mobile),
      RedisKeys.otpPrefixStats(numberBlock(mobile), BLOCK_DIGITS, new Date().toISOString().slice(0, 13)),
    ],
    [hashCode(env.OTP_SECRET!, mobile, body.otp), Date.now(), 5, 3600, 3600, numberOffset(mobile), '', '1'],
  );
  if (outcome === 'locked') return fail(reply, 429, 'OTP_LOCKED');
  if (outcome !== 'ok') return fail(reply, 400, 'OTP_INVALID');
  const stored = JSON.parse(raw!) as { row_id: string; user_id: string | null };
  const { rowCount } = await pool.query(
    `UPDATE otp_codes c SET used_at = now() WHERE c.id = $1 AND c.used_at IS NULL AND c.voided_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM otp_failures f WHERE f.mobile_number = c.mobile_number AND f.failures >= 5
                       AND f.window_start > now() - interval '1 hour')`,
    [stored.row_id],
  );
  if (!rowCount) return fail(reply, 400, 'OTP_INVALID');
  const userId = stored.user_id ?? mobile;
  const now = Date.now();
  const sessionId = newSessionId(userId);
  const at = new Date(now).toISOString();
  const ttlMs = 3600_000;
  const index = RedisKeys.userSessions(userId);
  await redis
    .multi()
    .set(
      RedisKeys.session(sessionId),
      serializeSession({
        last_activity: at,
        user_id: userId,
        created_at: at,
        context: { via: 'otp' },
        ip: null,
        user_agent: null,
      }),
      'PX',
      ttlMs,
    )
    .sadd(index, sessionId)
    .pexpire(index, DAY * 1000)
    .zadd(RedisKeys.sessionExpiries(sessionBucket(sessionId)), now + ttlMs, `${sessionId}:${userId}`)
    .exec();
  const access_token = sign({ sid: sessionId }, jwtKey, {
    algorithm: 'HS256',
    subject: userId,
    jwtid: randomUUID(),
    expiresIn: 900,
  });
  return { verified: true, access_token, session_id: sessionId, expires_in: 900 };
});

const SEND_JOB = {
  attempts: 5,
  backoff: { type: 'exponential' as const, delay: 1000 },
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 7 * 86400, count: 10_000 },
};

app.post<{ Body: { to: string; type: string; body: string } }>(
  '/api/v1/messages/send',
  async (req, reply) => {
    if (!authorized(req.headers['x-api-key'])) return fail(reply, 401, 'UNAUTHORIZED');
    const b = req.body ?? ({} as never);
    if (b.type !== 'sms' || typeof b.body !== 'string' || !b.body.length)
      return fail(reply, 400, 'VALIDATION_FAILED');
    let to: string;
    try {
      to = normalizePhone(b.to, 'to');
    } catch {
      return fail(reply, 400, 'INVALID_MOBILE_NUMBER');
    }
    // The number's blocks (blacklist, opt-outs) in one pipeline, as the service reads them (NumberBlocks).
    const [[, blacklisted], [, suppressed]] = (await redis
      .pipeline()
      .getbit(RedisKeys.blacklistFlags(to), numberOffset(to))
      .getbit(RedisKeys.suppressionFlags(to), numberOffset(to))
      .exists(RedisKeys.warmupMarkerOf(to))
      .exec())!;
    if (blacklisted === 1 || suppressed === 1) return fail(reply, 403, 'BLOCKED');
    const id = randomUUID();
    const { rows } = await pool.query(
      `WITH m AS (
       INSERT INTO messages (id, client_id, type, "from", "to", subject, body, media_urls, metadata, status_callback,
                             sensitive, send_at, idempotency_key, request_hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
       RETURNING *
     ), e AS (INSERT INTO message_events (message_id, status) SELECT id, 'pending' FROM m)
     SELECT * FROM m`,
      [id, 'bench', 'sms', null, to, null, b.body, null, null, null, false, null, null, null],
    );
    await sms.add('send-message', { messageId: id }, { ...SEND_JOB, jobId: id, delay: 0 });
    const row = rows[0];
    return reply.code(202).send({
      id,
      status: row.status,
      type: row.type,
      to: row.to,
      created_at: new Date(row.created_at).toISOString(),
      send_at: null,
    });
  },
);

// OTP send as the service does it: the send script (blacklist, active code, limits, the code's store), the code's
// row, the message's row and its job.
app.post<{ Body: { mobile_number: string; channel: string } }>('/otp/send', async (req, reply) => {
  if (!authorized(req.headers['x-api-key'])) return fail(reply, 401, 'UNAUTHORIZED');
  const b = req.body ?? ({} as never);
  if (b.channel !== 'sms') return fail(reply, 400, 'VALIDATION_FAILED');
  let mobile: string;
  try {
    mobile = normalizePhone(b.mobile_number);
  } catch {
    return fail(reply, 400, 'INVALID_MOBILE_NUMBER');
  }
  const code = newCode();
  const now = Date.now();
  const otp = {
    otp_hash: hashCode(env.OTP_SECRET!, mobile, code),
    mobile_number: mobile,
    created_at: new Date(now).toISOString(),
    created_ms: now,
    expires_at: new Date(now + 300_000).toISOString(),
    expires_ms: now + 300_000,
    channel: 'sms',
    user_id: null,
    message_id: randomUUID(),
    row_id: randomUUID(),
  };
  const hour = otp.created_at.slice(0, 13);
  // The counters of other slots reserve a unit each (sent together), then the number's step, as the service does.
  // (and the country's pumping counters, in the same parallel step; the prefix's rules run in the number's script)
  const thisHour = new Date(now).toISOString().slice(0, 13);
  const previousHour = new Date(now - 3_600_000).toISOString().slice(0, 13);
  const country = RedisKeys.otpCountryStats('IN', thisHour);
  const block = numberBlock(mobile);
  await Promise.all([
    reserveScript.run(redis, [RedisKeys.rateLimit('otp_client', 'bench')], [100_000_000, 60]),
    reserveScript.run(redis, [RedisKeys.otpHourlyBudget(hour)], [100_000_000, 7200]),
    velocityReserveScript.run(
      redis,
      [country, RedisKeys.otpCountryStats('IN', previousHour), country],
      [now, '', '', 0, '', 0],
    ),
  ]);
  const [outcome] = await sendScript.run(
    redis,
    [
      RedisKeys.otp(mobile),
      RedisKeys.otpStatus(mobile),
      RedisKeys.blacklistFlags(mobile),
      RedisKeys.otpSendsPerNumber(mobile),
      RedisKeys.warmupMarkerOf(mobile),
      RedisKeys.otpPrefixStats(block, BLOCK_DIGITS, thisHour),
      RedisKeys.otpPrefixStats(block, BLOCK_DIGITS, previousHour),
      RedisKeys.otpPumpingBlock(block, BLOCK_DIGITS),
      RedisKeys.suppressionFlags(mobile),
    ],
    [
      JSON.stringify(otp),
      JSON.stringify({ status: 'pending', expires_ms: otp.expires_ms, message_id: otp.message_id }),
      now,
      300,
      3600,
      '',
      60,
      '',
      3,
      300,
      '',
      '',
      numberOffset(mobile),
      '',
      '1',
      '',
      1_000_000_000,
      0.1,
      JSON.stringify({ since: new Date(now).toISOString(), country: 'IN' }),
    ],
  );
  if (outcome !== 'ok') return fail(reply, outcome === 'limited' ? 429 : 409, outcome.toUpperCase());
  await pool.query(
    `WITH v AS (UPDATE otp_codes SET voided_at = now() WHERE mobile_number = $2 AND used_at IS NULL AND voided_at IS NULL)
     INSERT INTO otp_codes (id, mobile_number, user_id, otp_hash, channel, message_id, created_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [otp.row_id, mobile, null, otp.otp_hash, 'sms', otp.message_id, otp.created_at, otp.expires_at],
  );
  await pool.query(
    `WITH m AS (
       INSERT INTO messages (id, client_id, type, "to", body, sensitive) VALUES ($1, 'otp', 'sms', $2, $3, true)
       RETURNING id
     ) INSERT INTO message_events (message_id, status) SELECT id, 'pending' FROM m`,
    [otp.message_id, mobile, `Your verification code is ${code}. It expires in 5 minutes.`],
  );
  await sms.add(
    'send-message',
    { messageId: otp.message_id },
    { ...SEND_JOB, jobId: otp.message_id, delay: 0 },
  );
  return { expires_in_seconds: 300, expires_at: otp.expires_at, message_id: otp.message_id };
});

// Redis is warm, as the service's warm-up leaves it (the OTP scripts ask Postgres for the blacklist otherwise).
for (const b of allNumberBuckets()) void redis.set(RedisKeys.warmupMarker(b), 'baseline');
app.listen({ port: Number(env.PORT ?? 3100), host: '127.0.0.1' }).then(
  () => process.stdout.write('baseline listening\n'),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
process.on('SIGTERM', () => {
  void app
    .close()
    .then(() => Promise.all([redis.quit(), pool.end(), sms.close()]))
    .finally(() => process.exit(0));
});
