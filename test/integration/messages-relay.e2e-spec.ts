// The relay finds every due pending message that has no job, however many are scheduled for later, and never
// queues a message before its send_at.
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import { MessageRelayTask } from '../../src/messages/message-relay.task';
import { QueueName } from '../../src/workers/job-catalogue';
import { JobScheduler } from '../../src/workers/job-scheduler';
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';
import { waitFor } from '../helpers/wait';

describe('message relay', () => {
  let t: TestApp;
  let db: DataSource;
  let sms: Queue;

  beforeAll(async () => {
    t = await startTestApp({ MESSAGE_RELAY_INTERVAL: '3600' }, { role: 'all' });
    await t.app.get(JobScheduler).idle();
    db = t.app.get(DataSource);
    sms = t.app.get<Queue>(getQueueToken(QueueName.Sms));
  });
  afterAll(() => t?.close());

  it('re-queues an orphan behind 520 messages scheduled for later, and none of those', async () => {
    const client = 'relay-orphan-test';
    // Scheduled for later, accepted before the orphan: the oldest pending rows, with no job here.
    const scheduled: { id: string }[] = await db.query(
      `INSERT INTO messages (id, client_id, type, "to", body, send_at, created_at)
       SELECT gen_random_uuid(), $1, 'sms', '+1500555' || lpad(n::text, 4, '0'), 'later',
              now() + interval '1 day', now() - interval '2 hours'
       FROM generate_series(1, 520) AS n
       RETURNING id`,
      [client],
    );
    // Accepted a minute ago, and its job was lost (the API died after the INSERT).
    const [orphan] = await db.query(
      `INSERT INTO messages (id, client_id, type, "to", body, created_at)
       VALUES (gen_random_uuid(), $1, 'sms', $2, 'orphan', now() - interval '1 minute') RETURNING id`,
      [client, randomMobile()],
    );
    try {
      await t.app.get(MessageRelayTask).tick();
      await waitFor(
        async () =>
          (await db.query('SELECT status FROM messages WHERE id = $1', [orphan.id]))[0].status ===
          'delivered',
        'the orphan sent (the console provider reports delivery at once)',
        20000,
      );
      const jobs = await Promise.all(scheduled.map((m) => sms.getJob(m.id)));
      expect(jobs.filter(Boolean)).toHaveLength(0);
      const [{ n }] = await db.query(
        `SELECT count(*)::int AS n FROM messages WHERE client_id = $1 AND status = 'pending'`,
        [client],
      );
      expect(n).toBe(520);
    } finally {
      await db.query('DELETE FROM messages WHERE client_id = $1', [client]);
    }
  });

  it('re-queues a due message whose job finished without sending it, once', async () => {
    const [m] = await db.query(
      `INSERT INTO messages (id, client_id, type, "to", body, created_at)
       VALUES (gen_random_uuid(), 'relay-finished-test', 'sms', $1, 'again', now() - interval '1 minute')
       RETURNING id`,
      [randomMobile()],
    );
    // A job that failed (on a database error, say) while the message stayed pending.
    await db.query(`UPDATE messages SET status = 'sending' WHERE id = $1`, [m.id]);
    await sms.add('send-message', { messageId: m.id }, { jobId: m.id, attempts: 1 });
    await waitFor(async () => (await sms.getJob(m.id))?.finishedOn !== undefined, 'the job finished');
    await db.query(`UPDATE messages SET status = 'pending' WHERE id = $1`, [m.id]);
    await t.app.get(MessageRelayTask).tick();
    await waitFor(
      async () =>
        (await db.query('SELECT status FROM messages WHERE id = $1', [m.id]))[0].status === 'delivered',
      'sent after the relay',
      20000,
    );
    const events = await db.query(`SELECT status FROM message_events WHERE message_id = $1 ORDER BY id`, [
      m.id,
    ]);
    expect(events.map((e: { status: string }) => e.status)).toEqual(['sending', 'sent', 'delivered']);
  });
});
