// Growth: register and message list latency at a small and a large data set.
import type Redis from 'ioredis';
import type { Pool } from 'pg';
import { numberOffset, RedisKeys } from '../../src/redis/redis-keys';
import { auth, fresh, LARGE, log, PREFIX } from '../lib/context';
import { Req, sequentialMedianMs } from '../lib/load';

export async function clearMessages(db: Pool, redis: Redis) {
  await db.query('TRUNCATE messages, message_events');
  const keys = await redis.keys(`${PREFIX}q:*`);
  for (let i = 0; i < keys.length; i += 500)
    await redis.unlink(...keys.slice(i, i + 500).map((k) => k.slice(PREFIX.length)));
}

export async function growth(apiPort: number, redis: Redis, db: Pool, clientId: string) {
  log('growth: register and message list at 10 thousand and 1 million');
  const out: Record<string, unknown> = {};
  // Median of sequential requests, with microseconds: the cost of one request at each data size.
  const measure = (next: () => Req) => sequentialMedianMs(apiPort, next, 2000);
  // Onboarded numbers, one in ten of each block (see footprintOnboarded): their flags' bits set.
  const fillSet = async (from: number, to: number) => {
    for (let i = from; i < to; i += 10_000) {
      const p = redis.pipeline();
      for (let j = i; j < Math.min(i + 10_000, to); j++) {
        const m = `+914${String(j * 10 + (j % 7)).padStart(9, '0')}`;
        p.setbit(RedisKeys.onboardedFlags(m), numberOffset(m), 1);
      }
      await p.exec();
    }
  };
  const fillRows = async (from: number, to: number) => {
    await db.query(
      `INSERT INTO messages (id, client_id, type, "to", body, status, created_at)
       SELECT gen_random_uuid(), $3, 'sms', '+913' || lpad(g::text, 9, '0'), 'hello', 'sent',
              now() - (g || ' milliseconds')::interval
       FROM generate_series($1::int, $2::int - 1) g`,
      [from, to, clientId],
    );
    await db.query('ANALYZE messages');
  };
  const list = (): Req => ({ path: '/api/v1/messages?limit=50&status=sent', headers: auth });
  const register = (): Req => ({ path: `/onboard/register/${fresh()}`, headers: auth });
  await clearMessages(db, redis);
  await fillSet(0, 10_000);
  await fillRows(0, 10_000);
  out.small = {
    rows: 10_000,
    onboarded: 10_000,
    register: await measure(register),
    message_list: await measure(list),
  };
  await fillSet(10_000, LARGE);
  await fillRows(10_000, LARGE);
  out.large = {
    rows: LARGE,
    onboarded: LARGE,
    register: await measure(register),
    message_list: await measure(list),
  };
  const s = out.small as { register: number; message_list: number };
  const l = out.large as { register: number; message_list: number };
  out.register_p50_ratio = l.register / s.register;
  out.message_list_p50_ratio = l.message_list / s.message_list;
  await clearMessages(db, redis);
  return out;
}
