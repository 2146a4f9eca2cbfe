// Messages that arrive or move together share statements (group commit): one INSERT, one queue round trip,
// one status UPDATE for many; each message still gets its own row, events, job and answer, in order.
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import { QueryCounter } from '../../src/database/query-counter';
import { MessagesRepository } from '../../src/messages/messages.repository';
import { QueueName } from '../../src/workers/job-catalogue';
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';

describe('messages under concurrency', () => {
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

  it('applies the status changes of one batch in order, each only from its expected status', async () => {
    const [a, b, c] = await Promise.all(
      ['a', 'b', 'c'].map(async (x) => (await send(x)).json().id as string),
    );
    // One flush, as the batcher makes it under load (concurrent submissions that found every slot busy).
    const repo = t.app.get(MessagesRepository) as unknown as {
      transitionMany(ts: { id: string; from: string[]; to: string; fields: object }[]): Promise<any[]>;
    };
    const results = await repo.transitionMany([
      { id: a, from: ['pending'], to: 'sending', fields: { detail: { n: 1 } } },
      { id: a, from: ['pending'], to: 'sending', fields: { detail: { n: 2 } } }, // the first one won
      { id: a, from: ['sending'], to: 'sent', fields: { provider: 'console', providerMessageId: 'pm-a' } },
      { id: b, from: ['pending'], to: 'sending', fields: {} },
      { id: c, from: ['sent'], to: 'delivered', fields: {} }, // c is pending: refused
    ]);
    expect(results.map((r) => r?.status ?? null)).toEqual(['sending', null, 'sent', 'sending', null]);
    expect(results[2]).toMatchObject({ id: a, provider: 'console', provider_message_id: 'pm-a' });
    const events: { message_id: string; status: string; detail: unknown }[] = await db.query(
      'SELECT message_id, status, detail FROM message_events WHERE message_id = ANY($1::uuid[]) ORDER BY id',
      [[a, b, c]],
    );
    expect(events.filter((e) => e.message_id === a).map((e) => [e.status, e.detail])).toEqual([
      ['pending', null],
      ['sending', { n: 1 }],
      ['sent', null],
    ]);
    expect(events.filter((e) => e.message_id === c).map((e) => e.status)).toEqual(['pending']);
  });
});
