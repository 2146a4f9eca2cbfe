// Status callbacks: one per change, relay settlements included, and for one message never an older status
// after a newer one.
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { CallbackUrlRefused, isPublicAddress, postCallback } from '../../src/messages/callback-urls';
import { testConfig } from '../helpers/test-env';
import { HttpRecorder } from '../helpers/http-recorder';
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';
import { JobScheduler } from '../../src/workers/job-scheduler';
import { waitFor } from '../helpers/wait';
import type { Job, Queue } from 'bullmq';
import { StatusCallbacks } from '../../src/messages/status-callbacks';
import type { StatusCallbackPayload } from '../../src/workers/job-catalogue';
import { MessagesRepository } from '../../src/messages/messages.repository';
import { MessageRelayTask } from '../../src/messages/message-relay.task';
import type { MessageStatusChanged } from '../../src/messages/message-status.service';
import { DataSource } from 'typeorm';
import { getQueueToken } from '@nestjs/bullmq';
import { QueueName } from '../../src/workers/job-catalogue';
import { JobLock } from '../../src/workers/job-lock';
import { RedisKeys } from '../../src/redis/redis-keys';

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

  it('stops, never posting an older list, once a stall cost it the message’s callback lock', async () => {
    // A worker read two undelivered changes, posted the first, and then stalled past its lease: another took
    // the message's lock (and may have delivered newer changes). It must not post the second now.
    const id = '00000000-0000-4000-8000-0000000000f7';
    const change = (eventId: string, status: string) => ({
      event_id: eventId,
      status,
      created_at: new Date(),
      status_callback: hooks.url,
      client_id: 'c',
    });
    const repo = {
      undeliveredCallbacks: async () => [change('1', 'sending'), change('2', 'sent')],
      callbackDelivered: async () => {
        // The stall: the lease lapsed and another worker holds the lock now.
        await t.redis.set(RedisKeys.lock(`callbacks:${id}`), 'another-worker', 'PX', 60_000);
      },
    } as unknown as MessagesRepository;
    const callbacks = new StatusCallbacks({} as Queue, t.config, repo, t.app.get(JobLock));
    await callbacks.deliver({ data: { messageId: id, eventId: '2' } } as Job<StatusCallbackPayload>);
    expect(received(id).map((r) => JSON.parse(r.body).data.status)).toEqual(['sending']);
    expect(await t.redis.get(RedisKeys.lock(`callbacks:${id}`))).toBe('another-worker'); // left alone
  });

  it('delivers a change whose callback job could not be queued, once the relay runs', async () => {
    const res = await send({
      to: randomMobile(),
      type: 'sms',
      body: 'last word',
      status_callback: hooks.url,
    });
    const { id } = res.json();
    await waitFor(() => received(id).length >= 3, 'its three callbacks', 30000);
    const webhooks = t.app.get<Queue>(getQueueToken(QueueName.Webhooks));
    await waitFor(
      async () => Object.values(await webhooks.getJobCounts('waiting', 'active', 'delayed')).every((n) => !n),
      'every callback job of it done',
    );
    // A last change (here written by hand) whose job could not be queued: Redis was away at that moment.
    const db = t.app.get(DataSource);
    const [event] = await db.query(
      `INSERT INTO message_events (message_id, status, detail) VALUES ($1, 'undelivered', '{}') RETURNING id::text`,
      [id],
    );
    await db.query(`UPDATE messages SET status = 'undelivered' WHERE id = $1`, [id]);
    const [row] = await db.query('SELECT * FROM messages WHERE id = $1', [id]);
    const unreachable = {
      add: async () => {
        throw new Error('Connection is closed.');
      },
    } as unknown as Queue;
    const away = new StatusCallbacks(
      unreachable,
      t.config,
      t.app.get(MessagesRepository),
      t.app.get(JobLock),
    );
    await away.onStatusChanged({ message: row, eventId: event.id } as MessageStatusChanged);
    await new Promise((r) => setTimeout(r, 300));
    expect(received(id)).toHaveLength(3); // nothing went out: no job
    await t.app.get(MessageRelayTask).tick();
    await waitFor(() => received(id).length === 4, 'the remembered callback delivered', 15000);
    expect(JSON.parse(received(id)[3].body).data).toMatchObject({
      status: 'undelivered',
      sequence: Number(event.id),
    });
    expect(await db.query('SELECT 1 FROM callback_retries WHERE message_id = $1', [id])).toHaveLength(0);
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

describe('status callback URLs', () => {
  let t: TestApp;
  let hooks: HttpRecorder;
  beforeAll(async () => {
    hooks = await HttpRecorder.start();
    t = await startTestApp({ WEBHOOK_ALLOW_PRIVATE_URLS: 'false' });
  });
  afterAll(async () => {
    await t?.close();
    await hooks?.stop();
  });

  const send = (status_callback: string) =>
    t.request({
      method: 'POST',
      url: '/api/v1/messages/send',
      payload: { to: randomMobile(), type: 'sms', body: 'x', status_callback },
    });

  it('refuses at accept what is not http(s) or reaches no public address', async () => {
    for (const url of [
      'ftp://example.com/hook',
      'file:///etc/passwd',
      'not a url',
      'http://user:pw@example.com/hook',
      'http://127.0.0.1:8080/hook',
      'http://localhost/hook',
      'http://10.0.0.8/hook',
      'http://192.168.1.1/hook',
      'http://169.254.169.254/latest/meta-data/',
      'http://100.64.0.1/hook',
      'http://224.0.0.1/hook',
      'http://0.0.0.0/hook',
      'http://[::1]/hook',
      'http://[fe80::1]/hook',
      'http://[fd00::1]/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://[::127.0.0.1]/hook', // IPv4-compatible (::/96): the URL parser makes it [::7f00:1]
      'http://[::a9fe:a9fe]/latest/meta-data/',
      'http://[ff02::1]/hook',
      'https://no-such-host.invalid/hook',
    ]) {
      const res = await send(url);
      expect([url, res.statusCode, res.json().code]).toEqual([url, 400, 'INVALID_CALLBACK_URL']);
    }
    expect((await send('https://93.184.215.14/hook')).statusCode).toBe(202);
    expect((await send('https://[2606:4700::1111]/hook')).statusCode).toBe(202);
  });

  it('checks again at delivery and follows no redirect', async () => {
    const opts = { timeoutMs: 2000, allowPrivate: false };
    // A name that resolves to loopback by the time the worker delivers: refused before connecting.
    await expect(postCallback(`http://localhost:${hooks.port}/cb`, {}, '{}', opts)).rejects.toThrow(
      CallbackUrlRefused,
    );
    await expect(postCallback(hooks.url, {}, '{}', opts)).rejects.toThrow(CallbackUrlRefused);
    expect(hooks.received).toHaveLength(0);

    // A redirect (to a private address here) is an answer like any other non-2xx: not followed.
    const redirector = createServer((_, res) => res.writeHead(302, { location: hooks.url }).end());
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    try {
      const port = (redirector.address() as { port: number }).port;
      const status = await postCallback(`http://127.0.0.1:${port}/`, {}, '{}', {
        ...opts,
        allowPrivate: true,
      });
      expect(status).toBe(302);
      expect(hooks.received).toHaveLength(0);
    } finally {
      redirector.close();
    }
  });

  it('is open outside production and closed in production by default', () => {
    expect(testConfig({ WEBHOOK_ALLOW_PRIVATE_URLS: '' }).messages.allowPrivateCallbackUrls).toBe(true);
    const production = {
      NODE_ENV: 'production',
      SMS_CONSOLE_IN_PRODUCTION: 'true',
      WEBHOOK_ALLOW_PRIVATE_URLS: '',
    };
    expect(testConfig(production).messages.allowPrivateCallbackUrls).toBe(false);
    expect(
      testConfig({ ...production, WEBHOOK_ALLOW_PRIVATE_URLS: 'true' }).messages.allowPrivateCallbackUrls,
    ).toBe(true);
    expect(isPublicAddress('8.8.8.8')).toBe(true);
    for (const ip of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '100.100.100.100',
      '::1',
      'fc00::1',
      '64:ff9b::7f00:1',
    ])
      expect([ip, isPublicAddress(ip)]).toEqual([ip, false]);
  });
});
