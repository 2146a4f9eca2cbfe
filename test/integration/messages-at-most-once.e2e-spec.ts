// At most once: a provider error is retried only when it proves the message did not leave; everything that
// fails after the request was written settles as failed with DELIVERY_UNKNOWN, and the provider's later word
// moves it on. One owner of status: every transition (the relay's included) is counted and reaches the
// client's status callback.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { MessageRelayTask } from '../../src/messages/message-relay.task';
import { DELIVERY_UNKNOWN, MessageRow } from '../../src/messages/message.types';
import { ProviderError } from '../../src/messages/providers/provider';
import { TwilioProvider } from '../../src/messages/providers/twilio.provider';
import { JobScheduler } from '../../src/workers/job-scheduler';
import { HttpRecorder } from '../helpers/http-recorder';
import { randomMobile } from '../helpers/numbers';
import { freePort } from '../helpers/redis-server';
import { startTestApp, TestApp } from '../helpers/test-app';
import { signedTwilioForm, TwilioStandIn } from '../helpers/twilio-standin';
import { waitFor } from '../helpers/wait';

const PUBLIC = 'https://sms-bridge.example.com';

describe('messages: at most once, one owner of status', () => {
  let t: TestApp;
  let twilio: TwilioStandIn;
  let hooks: HttpRecorder;
  let db: DataSource;

  beforeAll(async () => {
    [twilio, hooks] = await Promise.all([TwilioStandIn.start(), HttpRecorder.start()]);
    t = await startTestApp(
      {
        SMS_PROVIDER: 'twilio',
        TWILIO_ACCOUNT_SID: TwilioStandIn.ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: TwilioStandIn.AUTH_TOKEN,
        TWILIO_FROM_NUMBER: '+15005550006',
        TWILIO_BASE_URL: twilio.baseUrl,
        PUBLIC_BASE_URL: PUBLIC,
        PROVIDER_TIMEOUT_MS: '1000',
        MESSAGE_BACKOFF_MS: '20',
        MESSAGE_RELAY_INTERVAL: '3600',
      },
      { role: 'all' },
    );
    await t.app.get(JobScheduler).idle();
    db = t.app.get(DataSource);
  });
  afterAll(async () => {
    await t?.close();
    await Promise.all([twilio?.stop(), hooks?.stop()]);
  });

  const send = (payload: object) => t.request({ method: 'POST', url: '/api/v1/messages/send', payload });
  const get = async (id: string) => (await t.request({ url: `/api/v1/messages/${id}` })).json();
  const until = (id: string, status: string) =>
    waitFor(async () => (await get(id)).status === status && get(id), `message ${id} ${status}`, 15000);
  const callbacksOf = (id: string) =>
    hooks.received.map((r) => JSON.parse(r.body).data).filter((d) => d.id === id);
  const metric = async (labels: string) => {
    const text = (await t.request({ url: '/metrics', as: 'admin' })).body;
    const line = text.split('\n').find((l) => l.startsWith(`smsb_messages_total{${labels}}`));
    return line ? Number(line.split(' ').pop()) : 0;
  };

  describe('the Twilio provider says what a failure proves', () => {
    // A stand-in of its own: the app's worker may be sending other suites' leftovers through the shared one.
    let direct: TwilioStandIn;
    beforeAll(async () => (direct = await TwilioStandIn.start()));
    afterAll(() => direct.stop());
    const row = { id: '00000000-0000-4000-8000-000000000001', type: 'sms', to: '+15005550009' } as MessageRow;
    const provider = (baseUrl: string, timeoutMs = 1000) =>
      new TwilioProvider({
        accountSid: TwilioStandIn.ACCOUNT_SID,
        authToken: TwilioStandIn.AUTH_TOKEN,
        fromNumber: '+15005550006',
        baseUrl,
        statusCallbackUrl: `${PUBLIC}/webhooks/twilio/status`,
        timeoutMs,
      });
    const kindOf = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (err: ProviderError) => err.kind,
      );

    it('not_sent: connection refused or a name that does not resolve', async () => {
      expect(await kindOf(provider(`http://127.0.0.1:${await freePort()}`).send(row))).toBe('not_sent');
      expect(await kindOf(provider('http://no-such-host.invalid').send(row))).toBe('not_sent');
    });

    it('not_sent: a TLS handshake that fails (a self-signed certificate): nothing of the request was written', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'smsb-tls-'));
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-subj',
          '/CN=127.0.0.1',
          '-days',
          '1',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
      let requests = 0;
      const server = createHttpsServer(
        { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
        (_req, res) => {
          requests++;
          res.writeHead(201).end('{"sid":"SM1"}');
        },
      );
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const port = (server.address() as { port: number }).port;
        const err: ProviderError = await provider(`https://127.0.0.1:${port}`)
          .send(row)
          .then(
            () => {
              throw new Error('sent');
            },
            (e: ProviderError) => e,
          );
        expect([err.kind, err.code, requests]).toEqual(['not_sent', 'NETWORK', 0]);
      } finally {
        server.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('not_sent: a connect that never completes (SYNs dropped), though the send timeout is the same', async () => {
      // A listener whose accept queue is full and never drained: the kernel drops new SYNs, as a firewall
      // or a dead route would. Nothing of the request can have been written.
      const port = await freePort();
      const blackhole = spawn('python3', [
        '-c',
        `import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', ${port})); s.listen(0)
fill = []
for i in range(8):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(('127.0.0.1', ${port}))
    except BlockingIOError: pass
    fill.append(c)
print('ready', flush=True)
time.sleep(600)`,
      ]);
      try {
        await new Promise((r) => blackhole.stdout.once('data', r));
        // A send timeout of 4 s (connect timeout 2 s): undici checks its connect timeouts on a coarse timer,
        // so with 1 s against 0.5 s the two raced on a loaded machine.
        const err: ProviderError = await provider(`http://127.0.0.1:${port}`, 4000)
          .send(row)
          .then(
            () => {
              throw new Error('sent');
            },
            (e: ProviderError) => e,
          );
        expect([err.kind, err.code]).toEqual(['not_sent', 'NETWORK']);
        expect(err.message).toMatch(/CONNECT_TIMEOUT/);
      } finally {
        blackhole.kill('SIGKILL');
      }
    });

    it('refused: 429, and 5xx without a sid; rejected: an invalid number', async () => {
      direct.failNext(1, { status: 429, code: 20429 });
      direct.failNext(1, { status: 500 });
      direct.failNext(1, { status: 503, raw: 'Service Unavailable' });
      direct.failNext(1, { status: 400, code: 21211 });
      const p = provider(direct.baseUrl);
      expect(await kindOf(p.send(row))).toBe('refused');
      expect(await kindOf(p.send(row))).toBe('refused');
      expect(await kindOf(p.send(row))).toBe('refused');
      expect(await kindOf(p.send(row))).toBe('rejected');
    });

    it('unknown: dropped after the request was read, no answer, an unreadable answer', async () => {
      direct.failNext(1, { status: 0, fault: 'drop' });
      direct.failNext(1, { status: 0, fault: 'hang' });
      direct.failNext(1, { status: 201, raw: '{"sid": "SMabc' });
      direct.failNext(1, { status: 201, raw: '{}' });
      direct.failNext(1, { status: 500, fault: 'cut' }); // a 500 whose body, maybe with a sid, broke off
      direct.failNext(1, { status: 201, fault: 'cut' });
      const p = provider(direct.baseUrl);
      for (let i = 0; i < 6; i++) {
        const err: ProviderError = await p.send(row).then(
          () => {
            throw new Error('sent');
          },
          (e: ProviderError) => e,
        );
        expect([i, err.kind, err.code]).toEqual([i, 'unknown', DELIVERY_UNKNOWN]);
        expect(err.message).toMatch(/^DELIVERY_UNKNOWN: /);
      }
    });
  });

  it('sends once when the connection drops after Twilio read the request; a later "delivered" revives it', async () => {
    const to = randomMobile();
    twilio.failNext(1, { status: 0, fault: 'drop' }, to);
    const failedBefore = await metric('status="failed",type="sms",provider="twilio"');
    const deliveredBefore = await metric('status="delivered",type="sms",provider="twilio"');
    const { id } = (await send({ to, type: 'sms', body: 'once', status_callback: hooks.url })).json();
    const failed = await until(id, 'failed');
    expect(failed.error).toMatch(/^DELIVERY_UNKNOWN/);
    expect(failed.retry_count).toBe(0);
    await new Promise((r) => setTimeout(r, 500)); // no retry is coming
    expect(twilio.to(to)).toHaveLength(1);

    // Twilio had it after all: its signed callback (carrying our id) moves the message on.
    const url = `/webhooks/twilio/status?message_id=${id}`;
    const signed = signedTwilioForm(`${PUBLIC}${url}`, {
      MessageSid: 'SMlate0001',
      MessageStatus: 'delivered',
    });
    expect((await t.request({ method: 'POST', url, as: 'none', ...signed })).statusCode).toBe(200);
    const delivered = await until(id, 'delivered');
    expect(delivered).toMatchObject({ provider_message_id: 'SMlate0001', error: null });
    expect(await metric('status="failed",type="sms",provider="twilio"')).toBe(failedBefore + 1);
    expect(await metric('status="delivered",type="sms",provider="twilio"')).toBe(deliveredBefore + 1);
    await waitFor(() => callbacksOf(id).length >= 3, 'status callbacks for every change');
    expect(callbacksOf(id).map((d) => d.status)).toEqual(['sending', 'failed', 'delivered']);
  });

  it('sends once when Twilio never answers', async () => {
    const to = randomMobile();
    twilio.failNext(1, { status: 0, fault: 'hang' }, to);
    const { id } = (await send({ to, type: 'sms', body: 'slow' })).json();
    const failed = await until(id, 'failed');
    expect(failed.error).toMatch(/^DELIVERY_UNKNOWN: Twilio did not answer within 1000 ms/);
    expect(twilio.to(to)).toHaveLength(1);
  });

  it('retries a 429 and a 500, which prove Twilio refused it', async () => {
    const a = randomMobile();
    twilio.failNext(1, { status: 429, code: 20429 }, a);
    const first = (await send({ to: a, type: 'sms', body: 'rate limited' })).json();
    await until(first.id, 'sent');
    expect(twilio.to(a)).toHaveLength(2);
    const b = randomMobile();
    twilio.failNext(1, { status: 500 }, b);
    const second = (await send({ to: b, type: 'sms', body: 'server error' })).json();
    await until(second.id, 'sent');
    expect(twilio.to(b)).toHaveLength(2);
  });

  it('a send the relay settles as DELIVERY_UNKNOWN is counted and reaches the status callback', async () => {
    const [{ id }] = await db.query(
      `INSERT INTO messages (id, client_id, type, "to", body, status, provider, status_callback, updated_at)
       VALUES (gen_random_uuid(), $1, 'sms', $2, 'interrupted', 'sending', 'twilio', $3, now() - interval '1 hour')
       RETURNING id`,
      ['relay-test-client', randomMobile(), hooks.url],
    );
    const before = await metric('status="failed",type="sms",provider="twilio"');
    await t.app.get(MessageRelayTask).tick();
    const [row] = await db.query('SELECT status, error FROM messages WHERE id = $1', [id]);
    expect(row.status).toBe('failed');
    expect(row.error).toMatch(/^DELIVERY_UNKNOWN/);
    expect(await metric('status="failed",type="sms",provider="twilio"')).toBe(before + 1);
    await waitFor(() => callbacksOf(id).length === 1, 'the settlement reaches the client');
    expect(callbacksOf(id)[0].status).toBe('failed');
  });
});
