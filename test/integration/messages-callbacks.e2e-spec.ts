// Status callbacks: one per change, relay settlements included, and for one message never an older status
// after a newer one.
import { createHmac } from 'node:crypto';
import { HttpRecorder } from '../helpers/http-recorder';
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';
import { JobScheduler } from '../../src/workers/job-scheduler';
import { waitFor } from '../helpers/wait';

describe('status callbacks', () => {
  let t: TestApp;
  let hooks: HttpRecorder;

  beforeAll(async () => {
    hooks = await HttpRecorder.start();
    t = await startTestApp({ MESSAGE_RELAY_INTERVAL: '3600' }, { role: 'all' });
    await t.app.get(JobScheduler).idle();
  });
  afterAll(async () => {
    await t?.close();
    await hooks?.stop();
  });

  const send = (payload: object) => t.request({ method: 'POST', url: '/api/v1/messages/send', payload });
  const received = (id: string) => hooks.received.filter((r) => JSON.parse(r.body).data.id === id);

  it('delivers one message’s changes in order, even when an earlier one must be retried', async () => {
    hooks.failNext = 1; // the first callback ("sending") fails once and is retried after a backoff
    const res = await send({ to: randomMobile(), type: 'sms', body: 'in order', status_callback: hooks.url });
    expect(res.statusCode).toBe(202);
    const { id } = res.json();
    await waitFor(() => received(id).length >= 3, 'three callbacks', 30000);
    await new Promise((r) => setTimeout(r, 300)); // nothing more is coming
    const data = received(id).map((r) => JSON.parse(r.body).data);
    expect(data.map((d) => d.status)).toEqual(['sending', 'sent', 'delivered']);
    const sequences = data.map((d) => d.sequence);
    expect([...sequences].sort((a, b) => a - b)).toEqual(sequences);
    expect(new Set(sequences).size).toBe(3);

    // Each stays verifiable, with an id a receiver can deduplicate on.
    const { secret } = (await t.request({ url: '/api/v1/webhooks/secret' })).json();
    const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
    for (const r of received(id)) {
      const expected = createHmac('sha256', key)
        .update(`${r.headers['webhook-id']}.${r.headers['webhook-timestamp']}.${r.body}`)
        .digest('base64');
      expect(r.headers['webhook-signature']).toBe(`v1,${expected}`);
    }
    expect(new Set(received(id).map((r) => r.headers['webhook-id'])).size).toBe(3);
  });

  it('keeps many messages’ callbacks each in order', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await send({ to: randomMobile(), type: 'sms', body: `m${i}`, status_callback: hooks.url });
      ids.push(res.json().id);
    }
    await waitFor(() => ids.every((id) => received(id).length >= 3), 'thirty callbacks', 30000);
    for (const id of ids)
      expect(received(id).map((r) => JSON.parse(r.body).data.status)).toEqual([
        'sending',
        'sent',
        'delivered',
      ]);
  });
});
