// `npm start`: the API and a worker in one process on a fresh machine, with no other step. On the first run it
// writes a .env with development keys and secrets (printed once, never again), then creates the database when
// it is missing; the app itself runs the migrations. Production deployments start dist/main.js and
// dist/worker.js with their own configuration and never come here.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { Client } from 'pg';
import { loadConfig, readRawEnv } from '../config/load-config';

const ENV_FILE = '.env';

/** Writes .env with fresh keys and secrets when there is none; returns the lines to show the user once. */
export function writeDevelopmentEnv(path = ENV_FILE): string[] {
  if (existsSync(path)) return [];
  const secret = () => randomBytes(32).toString('base64url');
  const values = {
    NODE_ENV: 'development',
    API_KEYS: secret(),
    ADMIN_API_KEYS: secret(),
    OTP_SECRET: secret(),
    JWT_SECRET: secret(),
    ONBOARDING_SECRET: secret(),
    WEBHOOK_SIGNING_SECRET: secret(),
  };
  const body = Object.entries(values)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  writeFileSync(
    path,
    `# Written by \`npm start\` on its first run: development keys for this machine only.\n${body}\n`,
    {
      mode: 0o600,
    },
  );
  return [
    `wrote ${path} with development keys (shown this once; they stay in ${path}):`,
    `  client key (X-API-Key): ${values.API_KEYS}`,
    `  admin key:              ${values.ADMIN_API_KEYS}`,
  ];
}

/** Creates the database DATABASE_URL names when the server has no database of that name. */
export async function ensureDatabase(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5000 });
  await client.connect().catch((err: Error) => {
    throw new Error(
      `Postgres is not reachable at ${target.host} (${err.message}): start it, or set DATABASE_URL in .env`,
    );
  });
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    return true;
  } finally {
    await client.end();
  }
}

async function startLocal(): Promise<void> {
  if (readRawEnv().NODE_ENV === 'production') {
    process.stderr.write('npm start is for development; in production run dist/main.js and dist/worker.js\n');
    process.exit(1);
  }
  for (const line of writeDevelopmentEnv()) process.stdout.write(`${line}\n`);
  const config = loadConfig('all');
  if (await ensureDatabase(config.database.url)) process.stdout.write('created the database\n');
  await import('../main'); // APP_ROLE=all comes from the npm script
}

if (require.main === module) {
  void startLocal().catch((err: Error) => {
    process.stderr.write(`sms-bridge failed to start: ${err.message}\n`);
    process.exit(1);
  });
}
