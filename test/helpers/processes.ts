// Runs the built service (dist/main.js, dist/worker.js) as real child processes, as production does.
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RawEnv } from '../../src/config/load-config';
import { testRawEnv } from './test-env';
import { waitFor } from './wait';

const DIST = join(__dirname, '..', '..', 'dist');

export interface ServiceProcess {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts dist/{entry}.js (`main`, `worker`, or a script such as `scripts/start-local`) with exactly `env`. */
export function spawnService(entry: string, env: RawEnv, cwd?: string): ServiceProcess {
  const script = join(DIST, `${entry}.js`);
  if (!existsSync(script))
    throw new Error(`${script} is missing: run npm run build (npm test does it first)`);
  const proc = spawn(process.execPath, [script], {
    env: { PATH: process.env.PATH, ...env } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd,
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    proc,
    output: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

export function serviceEnv(port: number, overrides: RawEnv = {}): RawEnv {
  return testRawEnv({ PORT: String(port), LOG_LEVEL: 'info', ...overrides });
}

export async function waitForHttp(url: string, status = 200, timeoutMs = 15000): Promise<void> {
  await waitFor(
    async () =>
      (await fetch(url)
        .then((r) => r.status)
        .catch(() => 0)) === status,
    `${url} answering ${status}`,
    timeoutMs,
    100,
  );
}
