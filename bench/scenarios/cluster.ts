// The service on a Redis Cluster of three masters (its own, started here), with a plain prefix: after a mixed
// workload (register, session create and read, OTP send, message accept), how the keys and the commands spread
// over the masters, and how many commands a register and a session read cost there (the same as on one server:
// every step stays in one slot). Throughput on 2 cores shared with the masters is not the point (see
// docs/scaling.md for how it grows with the masters' CPUs).
import Redis from 'ioredis';
import { RedisCluster } from '../../test/helpers/redis-cluster';
import { apiEnv, auth, DATABASE_URL, fresh, log, PREFIX, PROBE, SECONDS } from '../lib/context';
import { drive, once, readsProcessed, Req } from '../lib/load';
import { freePort, imageNodeOptions, startNode } from '../lib/services';

/** Commands no request sends: the warm-up's checks, probes, the client's cluster housekeeping. */
const BACKGROUND = new Set([
  'exists',
  'info',
  'ping',
  'cluster',
  'client',
  'readonly',
  'command',
  'hello',
  'select',
]);

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
    // The commands each master serves: what the service sends (top-level, MONITOR; a script's own commands
    // are part of it), during the mixed load.
    const commands = masters.map(() => 0);
    const watching = await Promise.all(masters.map((m) => m.monitor()));
    watching.forEach((mon, k) =>
      mon.on('monitor', (_time: string, args: string[], source: string) => {
        if (source !== 'lua' && !BACKGROUND.has(String(args[0]).toLowerCase())) commands[k]++;
      }),
    );
    const load = await drive(port, mixed, { seconds: SECONDS * 3, connections: 50 });
    await new Promise((r) => setTimeout(r, 100));
    for (const mon of watching) mon.disconnect();
    const keys = await Promise.all(masters.map((m) => m.dbsize()));
    const share = (xs: number[]) =>
      xs.map((x) => Math.round((x / xs.reduce((a, b) => a + b, 0)) * 1000) / 10);

    // Per request on the cluster, sequentially, as the side-by-side rows count on one server: top-level
    // commands from MONITOR on every master (a script's own commands are `lua` and not counted; the warm-up's
    // marker checks and the client's housekeeping neither), round trips from total_reads_processed less an
    // idle window's.
    const reads = async () =>
      (await Promise.all(masters.map((m) => readsProcessed(m)))).reduce((a, b) => a + b, 0);
    const window = async (n: number, next: () => Req) => {
      let commands = 0;
      const monitors = await Promise.all(masters.map((m) => m.monitor()));
      for (const mon of monitors)
        mon.on('monitor', (_time: string, args: string[], source: string) => {
          if (source !== 'lua' && !BACKGROUND.has(String(args[0]).toLowerCase())) commands++;
        });
      const r0 = await reads();
      for (let k = 0; k < n; k++) await once(port, next());
      await new Promise((r) => setTimeout(r, 100));
      for (const mon of monitors) mon.disconnect();
      return { commands, reads: (await reads()) - r0 };
    };
    const perRequest = async (next: () => Req) => {
      const idle = await window(0, next);
      const w = await window(PROBE, next);
      return {
        commands: Math.round((w.commands / PROBE) * 100) / 100,
        round_trips: Math.round(((w.reads - idle.reads) / PROBE) * 100) / 100,
      };
    };
    const registerCounts = await perRequest(() => ({ path: `/onboard/register/${fresh()}`, headers: auth }));
    const sessionCounts = await perRequest(() => ({ path: `/sessions/${sessions[0]}`, headers: auth }));
    return {
      masters: masters.length,
      mixed_requests: load.requests,
      mixed_rps: Math.round(load.rps),
      mixed_non2xx: load.non2xx,
      keys_per_master: keys,
      keys_share_pct: share(keys),
      commands_share_pct: share(commands),
      register_commands_per_req: registerCounts.commands,
      register_round_trips_per_req: registerCounts.round_trips,
      session_get_commands_per_req: sessionCounts.commands,
      session_get_round_trips_per_req: sessionCounts.round_trips,
    };
  } finally {
    await api.stop();
    for (const m of masters) m.disconnect();
    await cluster.stop();
  }
}
