// A fault test's own set of built API and worker processes (dist/main.js, dist/worker.js) sharing one
// environment (one Redis key prefix, one Redis, one Postgres database), with a small HTTP client and the clean-up and
// diagnostics such tests need: every process is stopped afterwards, and a failing test shows their last logs.
import type { Client } from 'pg';
import type { RawEnv } from '../../src/config/load-config';
import { serviceEnv, ServiceProcess, spawnService, waitForHttp } from './processes';
import { freePort } from './redis-server';
import { TEST_ADMIN_KEY, TEST_CLIENT_KEY } from './test-env';
import { TwilioStandIn } from './twilio-standin';

export interface Api {
  name: string;
  port: number;
  url: string;
  svc: ServiceProcess;
}

export interface Worker {
  name: string;
  svc: ServiceProcess;
}

export interface CallResult {
  /** HTTP status, or 0 when no answer came (connection refused or reset, or the client's timeout). */
  status: number;
  body: any;
  headers: Headers | undefined;
  ms: number;
  error?: string;
}

export interface CallOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  as?: 'client' | 'admin' | 'none';
  /** The client gives up after this long: a request that hangs is a failure, not a wait. */
  timeoutMs?: number;
}

/** One HTTP call with a bounded wait; never throws (a missing answer is status 0 with the error's code). */
export async function call(base: string, path: string, opts: CallOptions = {}): Promise<CallResult> {
  const { method = 'GET', body, as = 'client', timeoutMs = 10_000 } = opts;
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (as === 'client') headers['x-api-key'] = TEST_CLIENT_KEY;
  if (as === 'admin') headers['x-api-key'] = TEST_ADMIN_KEY;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const started = Date.now();
  try {
    const res = await fetch(`${base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: kept as text
    }
    return { status: res.status, body: parsed, headers: res.headers, ms: Date.now() - started };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return {
      status: 0,
      body: undefined,
      headers: undefined,
      ms: Date.now() - started,
      error: e.cause?.code ?? e.name,
    };
  }
}

/** The variables that make the services send SMS through a Twilio stand-in. */
export function twilioEnv(twilio: TwilioStandIn): RawEnv {
  return {
    SMS_PROVIDER: 'twilio',
    TWILIO_ACCOUNT_SID: TwilioStandIn.ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: TwilioStandIn.AUTH_TOKEN,
    TWILIO_FROM_NUMBER: '+15005550006',
    TWILIO_BASE_URL: twilio.baseUrl,
  };
}

export class Fleet {
  readonly apis: Api[] = [];
  readonly workers: Worker[] = [];
  /** Every environment shares this one (its REDIS_KEY_PREFIX above all); PORT is set per API. */
  readonly env: RawEnv;

  constructor(overrides: RawEnv) {
    this.env = serviceEnv(0, { LOG_LEVEL: 'warn', ...overrides });
  }

  get prefix(): string {
    return this.env.REDIS_KEY_PREFIX!;
  }

  /** Starts an API process on a free port (not waiting for it). */
  async spawnApi(overrides: RawEnv = {}): Promise<Api> {
    const port = await freePort();
    const svc = spawnService('main', { ...this.env, ...overrides, PORT: String(port) });
    const api = { name: `api${this.apis.length + 1}`, port, url: `http://127.0.0.1:${port}`, svc };
    this.apis.push(api);
    return api;
  }

  /** Starts an API process and waits until it is ready (Redis, Postgres and the warm-up). */
  async startApi(overrides: RawEnv = {}): Promise<Api> {
    const api = await this.spawnApi(overrides);
    await this.waitReady(api);
    return api;
  }

  async waitReady(api: Api, timeoutMs = 60_000): Promise<void> {
    await Promise.race([
      waitForHttp(`${api.url}/health/ready`, 200, timeoutMs),
      api.svc.exited.then(({ code, signal }) => {
        throw new Error(`${api.name} exited (${code ?? signal}) before it was ready`);
      }),
    ]);
  }

  startWorker(overrides: RawEnv = {}): Worker {
    const worker = {
      name: `worker${this.workers.length + 1}`,
      svc: spawnService('worker', { ...this.env, ...overrides }),
    };
    this.workers.push(worker);
    return worker;
  }

  /** SIGTERM to every process still running, then SIGKILL to any that is not gone after a while. */
  async stopAll(): Promise<void> {
    await Promise.all(
      [...this.apis, ...this.workers].map(async ({ svc }) => {
        if (svc.proc.exitCode !== null || svc.proc.signalCode !== null) return;
        const timer = setTimeout(() => svc.proc.kill('SIGKILL'), 15_000);
        await svc.stop('SIGTERM');
        clearTimeout(timer);
      }),
    );
  }

  /** The last lines each process wrote, for a failing test's message. */
  logs(lines = 30): string {
    return [...this.apis, ...this.workers]
      .map(({ name, svc }) => {
        const tail = svc.output().trim().split('\n').slice(-lines).join('\n');
        return `--- ${name} (exit ${svc.proc.exitCode ?? svc.proc.signalCode ?? 'running'}) ---\n${tail}`;
      })
      .join('\n');
  }

  /** Runs a test body; on failure the error carries the processes' last log lines. */
  async diagnose<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      const e = err as Error;
      e.message = `${e.message}\n\nprocess logs:\n${this.logs()}`;
      throw e;
    }
  }
}

/** Each message's status, by id (ids not found are absent). */
export async function statuses(
  db: Client,
  ids: string[],
): Promise<Map<string, { status: string; error: string | null }>> {
  const { rows } = await db.query<{ id: string; status: string; error: string | null }>(
    'SELECT id, status, error FROM messages WHERE id = ANY($1::uuid[])',
    [ids],
  );
  return new Map(rows.map((r) => [r.id, { status: r.status, error: r.error }]));
}

/** How many provider requests the stand-in received per recipient number. */
export function receivedPerNumber(twilio: TwilioStandIn): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of twilio.requests) {
    const to = String(r.form.To).replace(/^whatsapp:/, '');
    counts.set(to, (counts.get(to) ?? 0) + 1);
  }
  return counts;
}
