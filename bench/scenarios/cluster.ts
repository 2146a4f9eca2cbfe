// The service on a Redis Cluster of three masters (its own, started here), with a plain prefix: after a mixed
// workload (register, session create and read, OTP send, message accept), how the keys and the commands spread
// over the masters, and how many commands a register and a session read cost there (the same as on one server:
// every step stays in one slot). Throughput on 2 cores shared with the masters is not the point (see
// docs/scaling.md for how it grows with the masters' CPUs).
import Redis from 'ioredis';
import { RedisCluster } from '../../test/helpers/redis-cluster';
import { apiEnv, auth, DATABASE_URL, fresh, log, PREFIX, PROBE, SECONDS } from '../lib/context';
import { drive, once, Req } from '../lib/load';
import { freePort, imageNodeOptions, startNode } from '../lib/services';

export async function clusterSpread() {
  log('cluster: 3 masters, mixed workload');
  const cluster = await RedisCluster.start();
  const masters = cluster.ports.map((port) => new Redis({ port, host: '127.0.0.1' }));
  const port = await freePort();
  const api = await startNode(
    'api-cluster',
    ['dist/main.js'],
    {
      ...apiEnv('', imageNodeOptions()),
      REDIS_URL: '',
      REDIS_CLUSTER_NODES: cluster.nodes,
      REDIS_KEY_PREFIX: PREFIX,
      DATABASE_URL,
      PORT: String(port),
    },
    port,
    '/health/ready',
  );
  const processed = () =>
    Promise.all(
      masters.map(async (m) => Number(/total_commands_processed:(\d+)/.exec(await m.info('stats'))![1])),
    );
  try {
    let i = 0;
    const sessions: string[] = [];
    const mixed = (): Req => {
      switch (i++ % 5) {
        case 0:
          return { path: `/onboard/register/${fresh()}`, headers: auth };
        case 1:
          return { method: 'POST', path: '/sessions', headers: auth, body: { user_id: `u-${i}` } };
        case 2:
          return sessions.length
            ? { path: `/sessions/${sessions[i % sessions.length]}`, headers: auth }
            : { path: `/onboard/register/${fresh()}`, headers: auth };
        case 3:
          return {
            method: 'POST',
            path: '/otp/send',
            headers: auth,
            body: { mobile_number: fresh(), channel: 'sms' },
          };
        default:
          return {
            method: 'POST',
            path: '/api/v1/messages/send',
            headers: auth,
            body: { to: fresh(), type: 'sms', body: 'hello' },
          };
      }
    };
    for (let s = 0; s < 20; s++) {
      const res = await fetch(`http://127.0.0.1:${port}/sessions`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ user_id: `reader-${s}` }),
      });
      sessions.push(((await res.json()) as { session_id: string }).session_id);
    }
    const before = await processed();
    const load = await drive(port, mixed, { seconds: SECONDS * 3, connections: 50 });
    const after = await processed();
    const keys = await Promise.all(masters.map((m) => m.dbsize()));
    const commands = after.map((a, k) => a - before[k]);
    const share = (xs: number[]) =>
      xs.map((x) => Math.round((x / xs.reduce((a, b) => a + b, 0)) * 1000) / 10);

    // Commands per request on the cluster, sequentially (nothing else running): a register, a session read.
    const perRequest = async (next: () => Req) => {
      const start = (await processed()).reduce((a, b) => a + b, 0);
      for (let k = 0; k < PROBE; k++) await once(port, next());
      const end = (await processed()).reduce((a, b) => a + b, 0);
      return Math.round(((end - start - masters.length * 2) / PROBE) * 100) / 100; // less the INFO calls
    };
    return {
      masters: masters.length,
      mixed_requests: load.requests,
      mixed_rps: Math.round(load.rps),
      mixed_non2xx: load.non2xx,
      keys_per_master: keys,
      keys_share_pct: share(keys),
      commands_share_pct: share(commands),
      register_commands_per_req: await perRequest(() => ({
        path: `/onboard/register/${fresh()}`,
        headers: auth,
      })),
      session_get_commands_per_req: await perRequest(() => ({
        path: `/sessions/${sessions[0]}`,
        headers: auth,
      })),
    };
  } finally {
    await api.stop();
    for (const m of masters) m.disconnect();
    await cluster.stop();
  }
}
