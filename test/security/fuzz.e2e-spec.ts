// Property-based fuzzing of every endpoint in the OpenAPI document: generated malformed requests (see
// fuzz-requests.ts) must never get a 5xx, every 4xx must be in SPEC's error shape, and the service must stay up.
// The seed is fixed, and printed on a failure with the shrunk request: FUZZ_SEED=<seed> replays a run.
import fc from 'fast-check';
import { join } from 'node:path';
import type { RawEnv } from '../../src/config/load-config';
import { Operation, operations } from '../helpers/api-routes';
import { randomMobile } from '../helpers/numbers';
import { ServiceProcess, serviceEnv, spawnService, waitForHttp } from '../helpers/processes';
import { rawRequest, RawRequest, socketRequest } from '../helpers/raw-http';
import { freePort } from '../helpers/redis-server';
import { keepSettings } from '../helpers/settings-snapshot';
import { removeKeys, startTestApp, TestApp } from '../helpers/test-app';
import { TEST_CLIENT_KEY, testConfig } from '../helpers/test-env';
import { waitFor } from '../helpers/wait';
import { hugeBodyArb, problemWith, requestArb } from './fuzz-requests';

const SEED = Number(process.env.FUZZ_SEED ?? 20261122);
const RUNS_PER_OPERATION = Number(process.env.FUZZ_RUNS ?? 80);

// The settings are global (one Postgres table): whatever the fuzzers manage to store is put back afterwards.
let restoreSettings: () => Promise<void>;
beforeAll(async () => {
  restoreSettings = await keepSettings();
});
afterAll(() => restoreSettings?.());

describe('fuzz: malformed requests on every endpoint', () => {
  let t: TestApp;
  let ops: Operation[];
  let token: string | undefined;
  const testNumber = randomMobile();

  beforeAll(async () => {
    // Behind a trusted proxy, so each generated request comes from its own X-Forwarded-For address and the
    // per-IP OTP limit does not answer 429 to everything after the tenth.
    t = await startTestApp({ TRUST_PROXY: 'true', OTP_TEST_NUMBERS: `${testNumber}:135790` });
    ops = operations((await t.request({ url: '/docs-json', as: 'none' })).json());
    await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: testNumber, channel: 'sms' },
    });
    const verified = await t.request({
      method: 'POST',
      url: '/otp/verify',
      payload: { mobile_number: testNumber, otp: '135790' },
    });
    token = verified.json().access_token;
  });
  afterAll(async () => {
    await t?.close();
  });

  it(`answers ${RUNS_PER_OPERATION} generated requests per operation with no 5xx and the SPEC error shape`, async () => {
    expect(ops.length).toBeGreaterThan(25);
    let sent = 0;
    const failures: string[] = [];
    for (const [i, op] of ops.entries()) {
      const seed = SEED + i;
      try {
        await fc.assert(
          fc.asyncProperty(
            requestArb(op, () => token),
            async (req) => {
              sent++;
              const res = await t.app.inject({
                method: req.method as any,
                url: req.url,
                headers: req.headers,
                ...(req.body !== undefined && { payload: req.body }),
              });
              const problem = problemWith(req, res);
              if (problem) throw new Error(problem);
            },
          ),
          { seed, numRuns: RUNS_PER_OPERATION, includeErrorInReport: true },
        );
      } catch (err) {
        failures.push(
          `${op.method} ${op.path} (FUZZ_SEED=${SEED}, this operation's seed ${seed}):\n${(err as Error).message}`,
        );
      }
    }
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(2000);
    expect((await t.request({ url: '/health/live', as: 'none' })).statusCode).toBe(200);
    expect((await t.request({ url: '/health', as: 'none' })).statusCode).toBe(200);
  });
});

/** A gauge from the service's own /metrics (Prometheus text). */
async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new RegExp(`^${name.replace(/[{}()[\]\\.*+?^$|]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`${name} missing from /metrics`);
  return Number(m[1]);
}

const MB = 2 ** 20;
const mb = (bytes: number) => (bytes / MB).toFixed(1);

describe('fuzz: the built service process under malformed requests and 2 MB bodies', () => {
  let svc: ServiceProcess;
  let port: number;
  let env: RawEnv;
  let ops: Operation[];

  beforeAll(async () => {
    port = await freePort();
    env = serviceEnv(port, {
      LOG_LEVEL: 'warn',
      TRUST_PROXY: 'true',
      // SIGUSR2 makes the process collect its garbage (test instrumentation), so the heap can be measured live.
      NODE_OPTIONS: `--expose-gc --require ${join(__dirname, '..', 'helpers', 'gc-on-signal.js')}`,
    });
    svc = spawnService('main', env);
    await waitForHttp(`http://127.0.0.1:${port}/health/live`);
    ops = operations((await (await fetch(`http://127.0.0.1:${port}/docs-json`)).json()) as any);
  });
  afterAll(async () => {
    await svc?.stop();
    if (env) await removeKeys(testConfig({ REDIS_KEY_PREFIX: env.REDIS_KEY_PREFIX }));
  });

  const send = (req: RawRequest) =>
    (req.body && req.body.length > 1_000_000 ? socketRequest : rawRequest)(port, req);

  /** One round: generated requests over real HTTP to random operations, then 2 MB bodies. */
  async function round(seed: number): Promise<number> {
    let sent = 0;
    const check = async (req: RawRequest) => {
      sent++;
      const problem = problemWith(req, await send(req));
      if (problem) throw new Error(problem);
    };
    const anyOp = fc.constantFrom(...ops).chain((op) => requestArb(op));
    await fc.assert(fc.asyncProperty(anyOp, check), { seed, numRuns: 250, includeErrorInReport: true });
    await fc.assert(fc.asyncProperty(hugeBodyArb(ops), check), {
      seed,
      numRuns: 14,
      includeErrorInReport: true,
    });
    return sent;
  }

  /** The heap's live size and the RSS, right after a full collection (the preload prints when it is done). */
  async function memory(): Promise<{ heap: number; rss: number }> {
    const done = () => (svc.output().match(/gc-on-signal: collection \d+ done/g) ?? []).length;
    const before = done();
    svc.proc.kill('SIGUSR2');
    await waitFor(() => done() > before, 'a full garbage collection', 10000, 20);
    return {
      heap: await metric(port, 'smsb_nodejs_heap_size_used_bytes'),
      rss: await metric(port, 'smsb_process_resident_memory_bytes'),
    };
  }

  it('answers every 2 MB body with its 413 or 415 in the SPEC shape, sent whole or in chunks', async () => {
    const big = JSON.stringify({ body: 'x'.repeat(2 * MB) });
    for (let i = 0; i < 5; i++) {
      for (const chunked of [false, true]) {
        for (const [type, status] of [
          ['application/json', 413],
          ['text/csv', 415],
        ] as const) {
          const req = {
            method: 'POST',
            url: '/api/v1/messages/send',
            headers: { 'x-api-key': TEST_CLIENT_KEY, 'content-type': type },
            body: big,
            chunked,
          };
          // The eager client (whole body at network pace, answer read as it comes) and Node's own client.
          for (const client of [socketRequest, rawRequest]) {
            const res = await client(port, req);
            expect([type, chunked, res.statusCode, problemWith(req, res)]).toEqual([
              type,
              chunked,
              status,
              null,
            ]);
          }
        }
      }
    }
  });

  it('stays up under generated requests, answers each in the SPEC shape, and its memory returns to its start level', async () => {
    try {
      // The first round warms the process up (JIT, pools, connections, lazily built parts): the start level.
      let sent = await round(SEED);
      const start = await memory();
      const after: { heap: number; rss: number }[] = [];
      for (let i = 1; i <= Number(process.env.FUZZ_ROUNDS ?? 3); i++) {
        sent += await round(SEED + i);
        after.push(await memory());
      }
      const end = after[after.length - 1];
      console.log(
        `fuzz process: ${sent} requests; live heap ${mb(start.heap)} MB at the start, then ` +
          `${after.map((m) => mb(m.heap)).join(' / ')} MB; RSS ${mb(start.rss)} MB, then ` +
          `${after.map((m) => mb(m.rss)).join(' / ')} MB`,
      );
      expect(sent).toBeGreaterThan(1000);
      // Alive and well: the process never exited, and answers its probes.
      expect(svc.proc.exitCode).toBeNull();
      expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
      // Memory: after three more rounds of the same load, the live heap is back at its start level (a margin for
      // metric series and caches that legitimately grow); the RSS, which the allocator gives back lazily, within
      // a generous one. A leak of a few KB per request would show in the heap; one of the 2 MB bodies in both.
      expect(end.heap).toBeLessThan(start.heap + 6 * MB);
      expect(end.rss).toBeLessThan(start.rss + Math.max(100 * MB, start.rss * 0.5));
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- service output ---\n${svc.output().slice(-3000)}`);
    }
  });
});
