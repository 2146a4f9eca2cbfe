// `npm start` on a fresh machine: no .env, no database, no keys. The start script writes development keys once,
// creates the database, and the app migrates it and serves with those keys; a second start reuses them silently.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'dotenv';
import { adminQuery } from '../helpers/own-database';
import { ServiceProcess, spawnService, waitForHttp } from '../helpers/processes';
import { freePort } from '../helpers/redis-server';
import { removeKeys } from '../helpers/test-app';
import { BASE_REDIS_URL, testConfig, testDatabaseUrl, uniquePrefix } from '../helpers/test-env';

const WAIT = 60000;

describe('npm start on a fresh machine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'smsb-start-'));
  const prefix = uniquePrefix();
  const dbUrl = new URL(testDatabaseUrl());
  const dbName = `${dbUrl.pathname.slice(1)}_fresh_start`;
  dbUrl.pathname = `/${dbName}`;
  let port: number;
  let running: ServiceProcess | undefined;
  const start = async () => {
    await running?.stop();
    const proc = spawnService('scripts/start-local', env(), dir);
    running = proc;
    await waitForHttp(`http://127.0.0.1:${port}/health/ready`, 200, WAIT).catch((err: Error) => {
      throw new Error(`${err.message}\n${proc.output()}`);
    });
    return proc;
  };

  // Only what a fresh machine has: where Redis and Postgres are. No key, no secret, no .env.
  const env = () => ({
    APP_ROLE: 'all',
    PORT: String(port),
    REDIS_URL: BASE_REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    DATABASE_URL: dbUrl.toString(),
    LOG_LEVEL: 'warn',
  });

  beforeAll(async () => {
    port = await freePort();
    await adminQuery(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  });

  afterAll(async () => {
    await running?.stop();
    await adminQuery(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await removeKeys(testConfig({ REDIS_KEY_PREFIX: prefix })).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }, 60000);

  it('writes and prints development keys, creates and migrates the database, and serves with those keys', async () => {
    const proc = await start();
    const written = parse(readFileSync(join(dir, '.env')));
    expect(statSync(join(dir, '.env')).mode & 0o777).toBe(0o600);
    for (const name of ['API_KEYS', 'ADMIN_API_KEYS', 'OTP_SECRET', 'JWT_SECRET', 'WEBHOOK_SIGNING_SECRET'])
      expect(written[name]?.length).toBeGreaterThanOrEqual(32);
    expect(proc.output()).toContain(written.API_KEYS);
    expect(proc.output()).toContain('created the database');

    const base = `http://127.0.0.1:${port}`;
    // The printed client key works on a client route, and the admin key on an admin route (migrated tables).
    const session = await fetch(`${base}/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': written.API_KEYS },
      body: JSON.stringify({ user_id: 'fresh-user' }),
    });
    expect(session.status).toBe(201);
    const settings = await fetch(`${base}/admin/settings`, {
      headers: { 'x-api-key': written.ADMIN_API_KEYS },
    });
    expect(settings.status).toBe(200);
    expect((await fetch(`${base}/sessions`, { method: 'POST' })).status).toBe(401);
    // The worker runs in the same process: its heartbeats make /health healthy.
    await waitForHttp(`${base}/health`, 200, WAIT);
    await proc.stop();
  }, 120000);

  it('starts again with the same keys and database, printing no key', async () => {
    const before = readFileSync(join(dir, '.env'), 'utf8');
    const proc = await start();
    expect(readFileSync(join(dir, '.env'), 'utf8')).toBe(before);
    const key = parse(before).API_KEYS;
    expect(proc.output()).not.toContain(key);
    expect(proc.output()).not.toContain('created the database');
    await proc.stop();
  }, 120000);
});
