// Load with autocannon (programmatic), and the per-request counts: Redis commands and round trips from the
// private server's INFO, SQL statements from the service's /metrics.
import autocannon from 'autocannon';
import type Redis from 'ioredis';

export interface Req {
  method?: 'GET' | 'POST';
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  non2xx: number;
}

export interface LoadOptions {
  seconds: number;
  connections: number;
  /** Requests per second from all connections (fixed-rate mode); unset = as fast as it goes. */
  rate?: number;
  /** Stop after this many requests (instead of after `seconds`). */
  amount?: number;
}

/** Drives `port` with requests from `next()` (called once per request, so paths and bodies can be fresh). */
export async function drive(port: number, next: () => Req, opts: LoadOptions): Promise<LoadResult> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: opts.connections,
    duration: opts.seconds,
    ...(opts.rate ? { overallRate: opts.rate } : {}),
    ...(opts.amount ? { amount: opts.amount } : {}),
    requests: [
      {
        setupRequest: (req: autocannon.Request): autocannon.Request => {
          const r = next();
          return {
            ...req,
            method: r.method ?? 'GET',
            path: r.path,
            headers: { ...(r.body !== undefined && { 'content-type': 'application/json' }), ...r.headers },
            body: r.body === undefined ? undefined : JSON.stringify(r.body),
          };
        },
      },
    ],
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

/** Sends one request and returns its status (the sequential probes). */
export async function once(port: number, r: Req): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}${r.path}`, {
    method: r.method ?? 'GET',
    headers: { ...(r.body !== undefined && { 'content-type': 'application/json' }), ...r.headers },
    body: r.body === undefined ? undefined : JSON.stringify(r.body),
  });
  await res.arrayBuffer();
  return res.status;
}

/**
 * The median latency of `n` sequential requests, in ms with microseconds (autocannon's percentiles are whole
 * milliseconds, too coarse for paths that answer in under one).
 */
export async function sequentialMedianMs(port: number, next: () => Req, n: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const status = await once(port, next());
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (status >= 300) throw new Error(`a sequential request answered ${status}`);
  }
  return median(times);
}

/** Requests the Redis server has read from its clients so far: one per round trip. */
export async function readsProcessed(redis: Redis): Promise<number> {
  return Number(/total_reads_processed:(\d+)/.exec(await redis.info('stats'))?.[1] ?? NaN);
}

/** SQL statements the service sent so far (smsb_db_statements on /metrics), by kind. */
export async function sqlCounters(port: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out: Record<string, number> = { total: 0 };
  for (const m of text.matchAll(/^smsb_db_statements\{kind="(\w+)"\} (\d+)/gm)) {
    out[m[1]] = Number(m[2]);
    out.total += Number(m[2]);
  }
  return out;
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
