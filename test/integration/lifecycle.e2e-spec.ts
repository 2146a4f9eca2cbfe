// The built processes: bad configuration stops them with one line per problem; they start, serve /health,
// and on SIGTERM close everything and exit 0.
import { spawnService, serviceEnv, waitForHttp } from '../helpers/processes';
import { freePort } from '../helpers/redis-server';
import { removeKeys } from '../helpers/test-app';
import { testConfig } from '../helpers/test-env';
import { waitFor } from '../helpers/wait';

describe('process lifecycle', () => {
  it('refuses a bad configuration with one clear line per problem, exit 1', async () => {
    const svc = spawnService(
      'main',
      serviceEnv(await freePort(), { PORT: 'eighty', LOG_LEVEL: 'loud', API_KEYS: '' }),
    );
    const { code } = await svc.exited;
    expect(code).toBe(1);
    const lines = svc.output().trim().split('\n');
    expect(lines[0]).toMatch(/invalid configuration/);
    expect(
      lines
        .slice(1)
        .map((l) => l.trim().split(':')[0])
        .sort(),
    ).toEqual(['API_KEYS', 'LOG_LEVEL', 'PORT']);
  });

  it('APP_ROLE=all answers /health 200, then exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const env = serviceEnv(port, { APP_ROLE: 'all', MIGRATIONS_RUN: 'true' });
    const svc = spawnService('main', env);
    try {
      const started = Date.now();
      await waitForHttp(`http://127.0.0.1:${port}/health`, 200);
      // Done means: healthy within 3 s of start (the margin is generous for a loaded CI machine).
      expect(Date.now() - started).toBeLessThan(10000);
      const body: any = await waitFor(async () => {
        const b: any = await (await fetch(`http://127.0.0.1:${port}/health`)).json();
        return b.components.background_workers.status === 'unknown' ? undefined : b;
      }, 'the in-process worker heartbeat reaches /health');
      expect(body.components.background_workers.status).toBe('up');
    } finally {
      const { code, signal } = await svc.stop('SIGTERM');
      await removeKeys(testConfig({ REDIS_KEY_PREFIX: env.REDIS_KEY_PREFIX }));
      expect({ code, signal }).toEqual({ code: 0, signal: null });
    }
    expect(svc.output()).toMatch(/SIGTERM received, shutting down/);
  });

  it('an API beside a separate worker process reports the worker up; both exit 0', async () => {
    const port = await freePort();
    const env = serviceEnv(port);
    const worker = spawnService('worker', env);
    const api = spawnService('main', env);
    try {
      await waitForHttp(`http://127.0.0.1:${port}/health`, 200);
      // The two processes start independently: the API may answer before the worker's first heartbeat
      // (status `unknown` then, which is not a failure), so wait for the heartbeat to be seen.
      const body: any = await waitFor(
        async () => {
          const b: any = await (await fetch(`http://127.0.0.1:${port}/health`)).json();
          return b.components.background_workers.status === 'unknown' ? undefined : b;
        },
        'the worker heartbeat reaches /health',
        20000,
      );
      expect(body.components.background_workers).toMatchObject({
        status: 'up',
        jobs: { worker: { status: 'up' } },
      });
    } finally {
      const results = await Promise.all([api.stop(), worker.stop()]);
      await removeKeys(testConfig({ REDIS_KEY_PREFIX: env.REDIS_KEY_PREFIX }));
      if (results.some((r) => r.code !== 0))
        console.log(`api:\n${api.output()}\nworker:\n${worker.output()}`);
      expect(results).toEqual([
        { code: 0, signal: null },
        { code: 0, signal: null },
      ]);
    }
  });
});
