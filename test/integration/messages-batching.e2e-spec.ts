// Accepts that arrive together share one INSERT and one queue round trip (group commit), and each still gets
// its own row, first event, job and answer, with idempotency keys kept per message.
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import { QueryCounter } from '../../src/database/query-counter';
import { QueueName } from '../../src/workers/job-catalogue';
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';

describe('message accept under concurrency', () => {
  let t: TestApp;
  let db: DataSource;
  let queue: Queue;

  beforeAll(async () => {
    t = await startTestApp({ MESSAGE_RELAY_INTERVAL: '3600' }, { role: 'api' });
    db = t.app.get(DataSource);
    queue = t.app.get<Queue>(getQueueToken(QueueName.Sms));
  });
  afterAll(() => t.close());

  const send = (body: string, headers: Record<string, string> = {}, to = randomMobile()) =>
    t.request({ method: 'POST', url: '/api/v1/messages/send', payload: { to, type: 'sms', body }, headers });

  it('stores, queues and answers each of 150 concurrent messages, in fewer statements than messages', async () => {
    const inserts = QueryCounter.instance.byKind.insert;
    const answers = await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        send(`hello ${i}`, i % 3 === 0 ? { 'idempotency-key': `batch-key-${i}-${Date.now()}` } : {}),
      ),
    );
    expect(answers.map((a) => a.statusCode)).toEqual(Array(150).fill(202));
    const ids = answers.map((a) => a.json().id as string);
    expect(new Set(ids).size).toBe(150);
    expect(QueryCounter.instance.byKind.insert - inserts).toBeLessThan(150);

    const rows: { id: string; body: string; events: number }[] = await db.query(
      `SELECT m.id, m.body, (SELECT count(*)::int FROM message_events e WHERE e.message_id = m.id AND e.status = 'pending') AS events
       FROM messages m WHERE m.id = ANY($1::uuid[])`,
      [ids],
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    ids.forEach((id, i) => {
      expect(byId.get(id)).toEqual({ id, body: `hello ${i}`, events: 1 }); // each answer names its own row
    });
    const jobs = await Promise.all(ids.map((id) => queue.getJob(id)));
    expect(jobs.filter((j) => j?.data.messageId).map((j) => j!.data.messageId)).toEqual(ids);
  });

  it('keeps an idempotency key to its first message when repeats arrive among other messages', async () => {
    const key = `repeat-${Date.now()}`;
    const to = randomMobile();
    const first = await send('first', { 'idempotency-key': key }, to);
    const [again, ...others] = await Promise.all([
      send('first', { 'idempotency-key': key }, to),
      ...Array.from({ length: 20 }, (_, i) => send(`other ${i}`)),
    ]);
    expect(again.statusCode).toBe(202);
    expect(again.json().id).toBe(first.json().id);
    expect(others.every((o) => o.statusCode === 202 && o.json().id !== first.json().id)).toBe(true);
  });
});
