// SYNC_MESSAGE_PROCESSING=true: the message is sent inside the request, and not also queued.
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { QueueName } from '../../src/workers/job-catalogue';
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';
import { TwilioStandIn } from '../helpers/twilio-standin';

describe('synchronous message processing', () => {
  let t: TestApp;
  let twilio: TwilioStandIn;

  beforeAll(async () => {
    twilio = await TwilioStandIn.start();
    t = await startTestApp({
      SYNC_MESSAGE_PROCESSING: 'true',
      SMS_PROVIDER: 'twilio',
      TWILIO_ACCOUNT_SID: TwilioStandIn.ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: TwilioStandIn.AUTH_TOKEN,
      TWILIO_FROM_NUMBER: '+15005550006',
      TWILIO_BASE_URL: twilio.baseUrl,
    });
  });
  afterAll(async () => {
    await t.close();
    await twilio.stop();
  });

  it('sends once inside the request and queues nothing', async () => {
    const to = randomMobile();
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/messages/send',
      payload: { to, type: 'sms', body: 'now' },
    });
    expect(res.statusCode).toBe(202);
    expect(res.json().status).toBe('sent');
    expect(twilio.to(to)).toHaveLength(1);
    const queue = t.app.get<Queue>(getQueueToken(QueueName.Sms));
    expect(await queue.getJob(res.json().id)).toBeUndefined();
    await new Promise((r) => setTimeout(r, 300));
    expect(twilio.to(to)).toHaveLength(1);
  });

  it('queues, never sends at once, a message scheduled for later, and one refused for now', async () => {
    const queue = t.app.get<Queue>(getQueueToken(QueueName.Sms));
    const later = randomMobile();
    const scheduled = await t.request({
      method: 'POST',
      url: '/api/v1/messages/send',
      payload: {
        to: later,
        type: 'sms',
        body: 'later',
        send_at: new Date(Date.now() + 3600_000).toISOString(),
      },
    });
    expect(scheduled.json().status).toBe('pending');
    expect(twilio.to(later)).toHaveLength(0);
    expect(await (await queue.getJob(scheduled.json().id))?.isDelayed()).toBe(true);

    const refused = randomMobile();
    twilio.failNext(1, { status: 429, code: 20429 }, refused);
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/messages/send',
      payload: { to: refused, type: 'sms', body: 'busy' },
    });
    expect(res.json().status).toBe('pending'); // not failed for good: queued for its retries
    expect(await queue.getJob(res.json().id)).toBeDefined();
  });
});
