// Messages at a fixed rate through API → queue → worker → a route of two providers (console first), none lost.
import type { Pool } from 'pg';
import { E2E_SECONDS, env, log } from '../lib/context';
import { drive, Req } from '../lib/load';
import { waitUntil } from '../lib/services';

/** Messages at a fixed rate through API → queue → worker → console provider; lag sampled every second. */
export async function endToEnd(apiPort: number, db: Pool, message: () => Req) {
  // Offered a tenth above the target, so that "sent per second" can show the target met: sent/s is counted
  // from the first request to the last message sent, and so can only come out below the offered rate.
  const rate = Number(env.BENCH_E2E_RATE ?? 1100);
  log(`message end to end: ${rate} msg/s for ${E2E_SECONDS} s, worker running`);
  const lag: number[] = [];
  const count = async () => {
    const { rows: r } = await db.query(
      `SELECT count(*)::int AS all, count(*) FILTER (WHERE status IN ('sent', 'delivered'))::int AS done FROM messages`,
    );
    return r[0] as { all: number; done: number };
  };
  const sampler = setInterval(() => void count().then((c) => lag.push(c.all - c.done)), 1000);
  const t0 = Date.now();
  const load = await drive(apiPort, message, { seconds: E2E_SECONDS, connections: 50, rate });
  const accepted = (await count()).all;
  const loadEnd = Date.now();
  await waitUntil(
    async () => (await count()).done >= accepted,
    'every accepted message to be sent',
    180_000,
  ).catch(() => undefined);
  clearInterval(sampler);
  const end = await count();
  const { rows: st } = await db.query(`SELECT status, count(*)::int AS n FROM messages GROUP BY status`);
  return {
    rate,
    seconds: E2E_SECONDS,
    accepted_202: load.requests - load.non2xx - load.errors,
    non2xx: load.non2xx,
    errors: load.errors,
    rows: end.all,
    sent: end.done,
    by_status: Object.fromEntries(st.map((r) => [r.status, r.n])),
    lost: Math.max(0, load.requests - load.non2xx - load.errors - end.all),
    sent_per_second: end.done / ((Date.now() - t0) / 1000),
    drain_after_load_s: (Date.now() - loadEnd) / 1000,
    max_queue_lag: Math.max(0, ...lag),
    final_lag: end.all - end.done,
    p99_accept_ms: load.p99,
  };
}
