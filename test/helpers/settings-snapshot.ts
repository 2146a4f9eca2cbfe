// The onboarding settings live in one Postgres table shared by every test file of the suite. A test that changes
// them puts back exactly the rows it found: not the values it read through the API, which include defaults from
// its own environment (ABUSE_THRESHOLD) and would, once stored, override other files' configuration.
import { Client } from 'pg';
import { testDatabaseUrl } from './test-env';

/** Takes a copy of the settings rows now; the function returned restores them. */
export async function keepSettings(): Promise<() => Promise<void>> {
  const db = new Client({ connectionString: testDatabaseUrl() });
  await db.connect();
  const rows: { key: string; value: unknown }[] = (await db.query('SELECT key, value FROM settings')).rows;
  return async () => {
    try {
      await db.query('BEGIN');
      await db.query('DELETE FROM settings');
      for (const r of rows) {
        await db.query('INSERT INTO settings (key, value) VALUES ($1, $2::jsonb)', [
          r.key,
          JSON.stringify(r.value),
        ]);
      }
      await db.query('COMMIT');
    } finally {
      await db.end();
    }
  };
}
