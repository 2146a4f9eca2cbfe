// Footprint: what one unit of each kind of data costs where it lives, read off the run's own Redis and
// Postgres (MEMORY USAGE of sampled keys, row counts): the figures docs/scaling.md sizes a deployment from.
import type Redis from 'ioredis';
import type { Pool } from 'pg';
import { allSessionBuckets, RedisKeys } from '../../src/redis/redis-keys';
import { log, PREFIX } from '../lib/context';

const SAMPLE = 200;

async function sampleKeys(
  redis: Redis,
  pattern: string,
  accept: (key: string) => boolean,
): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${PREFIX}${pattern}`, 'COUNT', 1000);
    cursor = next;
    for (const k of batch) if (accept(k.slice(PREFIX.length)) && keys.length < SAMPLE) keys.push(k);
  } while (cursor !== '0' && keys.length < SAMPLE);
  return keys;
}

async function averageBytes(redis: Redis, keys: string[]): Promise<number> {
  if (!keys.length) return NaN;
  let total = 0;
  for (const k of keys) total += Number(await redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0'));
  return total / keys.length;
}

/** Bytes of a whole collection key per member (`SAMPLES 0`: every element is counted). */
async function bytesPerMember(redis: Redis, key: string, size: number): Promise<number> {
  if (!size) return NaN;
  return Number(await redis.call('MEMORY', 'USAGE', `${PREFIX}${key}`, 'SAMPLES', '0')) / size;
}

/** Sessions, queued messages and SQL rows: measured while the side-by-side scenarios' data is still there. */
export async function footprintBeforeGrowth(redis: Redis, db: Pool) {
  log('footprint: sessions, queued messages, SQL rows per message');
  const sessions = await sampleKeys(redis, '{s*}:session:*', (k) =>
    /^\{s[0-9a-f]{2}\}:session:[0-9a-f]{32}$/.test(k),
  );
  const indexes = await sampleKeys(redis, '{s*}:user_sessions:*', () => true);
  let indexBytes = 0;
  let indexed = 0;
  for (const k of indexes) {
    indexBytes += Number(await redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0'));
    indexed += (await redis.type(k)) === 'zset' ? await redis.zcard(k) : await redis.scard(k);
  }
  // Every user bucket's expiry set: bytes of all of them per session indexed.
  const buckets = allSessionBuckets().map((b) => `${PREFIX}${RedisKeys.sessionExpiries(b)}`);
  const expiries = (await Promise.all(buckets.map((k) => redis.zcard(k)))).reduce((a, b) => a + b, 0);
  const expiryBytes = (
    await Promise.all(buckets.map((k) => redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')))
  ).reduce((a: number, b) => a + Number(b ?? 0), 0);
  const jobs = await sampleKeys(redis, 'q:{sms}:sms:*', (k) => /^q:\{sms\}:sms:[0-9a-f-]{36}$/.test(k));
  const waiting = await redis.llen(`${PREFIX}q:{sms}:sms:wait`);
  const { rows } = await db.query(
    `SELECT (SELECT count(*) FROM messages)::float8 AS messages, (SELECT count(*) FROM message_events)::float8 AS events`,
  );
  return {
    session_key_bytes: Math.round(await averageBytes(redis, sessions)),
    session_index_bytes_per_session: indexed ? Math.round(indexBytes / indexed) : null,
    session_expiry_bytes_per_session: expiries ? Math.round(expiryBytes / expiries) : null,
    queued_message_job_bytes: Math.round(await averageBytes(redis, jobs)),
    queued_message_wait_list_bytes_per_job: Math.round(
      await bytesPerMember(redis, 'q:{sms}:sms:wait', waiting),
    ),
    sql_rows_per_accepted_message: rows[0].messages
      ? (rows[0].messages + rows[0].events) / rows[0].messages
      : null,
  };
}

/**
 * The onboarded flags, once the growth scenario has filled them (one number in ten of each block: the density
 * at which 100 M onboarded people sit among 1 G allocated numbers): every flag key's bytes per number.
 */
export async function footprintOnboarded(redis: Redis) {
  const keys = await allKeys(redis, '{n*}:onboarded:*');
  let bytes = 0;
  let numbers = 0;
  for (const k of keys) {
    bytes += Number(await redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0'));
    numbers += await redis.bitcount(k);
  }
  return {
    onboarded_numbers: numbers,
    onboarded_flag_keys: keys.length,
    onboarded_bytes_per_number: numbers ? Math.round((bytes / numbers) * 10) / 10 : null,
  };
}

async function allKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${PREFIX}${pattern}`, 'COUNT', 5000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}
