// Listing pages are exact when rows share a timestamp (messages stored by one group-commit statement share
// created_at to the microsecond): the cursor keeps full precision, with the id as tie-breaker.
import { DataSource } from 'typeorm';
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';

describe('message listing', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t?.close());

  it('pages 150 concurrent accepts at limit=7, each exactly once', async () => {
    const to = randomMobile();
    const accepted = await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        t.request({
          method: 'POST',
          url: '/api/v1/messages/send',
          payload: { to, type: 'sms', body: `n${i}` },
        }),
      ),
    );
    expect(accepted.every((r) => r.statusCode === 202)).toBe(true);
    const ids = accepted.map((r) => r.json().id as string);
    // They really share timestamps (the case a millisecond cursor got wrong).
    const [{ distinct }] = await t.app
      .get(DataSource)
      .query(`SELECT count(DISTINCT created_at)::int AS distinct FROM messages WHERE id = ANY($1)`, [ids]);
    expect(distinct).toBeLessThan(150);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `to=${encodeURIComponent(to)}&limit=7${cursor ? `&cursor=${cursor}` : ''}`;
      const page = (await t.request({ url: `/api/v1/messages?${query}` })).json();
      seen.push(...page.items.map((m: { id: string }) => m.id));
      cursor = page.next_cursor;
      pages++;
    } while (cursor && pages < 100);
    expect(seen).toHaveLength(150);
    expect(new Set(seen)).toEqual(new Set(ids));
  });

  it('still reads a millisecond cursor, and refuses a malformed one', async () => {
    const ms = Buffer.from(`2026-01-01T00:00:00.000Z|${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`);
    const ok = await t.request({ url: `/api/v1/messages?cursor=${ms.toString('base64url')}` });
    expect(ok.statusCode).toBe(200);
    for (const bad of [
      '2026-01-01T00:00:00.0000Z',
      '2026-13-01T00:00:00.000000Z',
      '1',
      '0000-01-01T00:00:00.000000Z', // a JavaScript date, not a Postgres one
      '0000-01-01T00:00:00.000Z',
    ]) {
      const cursor = Buffer.from(`${bad}|${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`);
      const res = await t.request({ url: `/api/v1/messages?cursor=${cursor.toString('base64url')}` });
      expect([bad, res.statusCode, res.json().code]).toEqual([bad, 400, 'INVALID_CURSOR']);
    }
  });
});
