// The sender's decisions with fakes (no Redis, no Postgres, no provider): which status each outcome leads to,
// whether the provider is called, and whether BullMQ is asked to retry. The same rules under real faults are
// in test/integration/messages-at-most-once.e2e-spec.ts and test/chaos/.
import type { MetricsService } from '../metrics/metrics.service';
import type { NumberBlock, NumberBlocks } from '../suppression/number-blocks';
import type { SuppressionList } from '../suppression/suppression-list';
import { MessageSender } from './message-sender';
import type { MessageStatusService } from './message-status.service';
import type { TransitionFields } from './messages.repository';
import { DELIVERY_UNKNOWN, MessageRow, MessageStatus } from './message.types';
import { MessageProvider, ProviderError, SendResult } from './providers/provider';

/** The status owner, reduced to its rule: a move happens only from one of the listed statuses. */
class FakeStatus {
  readonly moves: { to: MessageStatus; fields: TransitionFields }[] = [];
  constructor(public row: MessageRow) {}

  async move(id: string, from: MessageStatus[], to: MessageStatus, fields: TransitionFields = {}) {
    if (id !== this.row.id || !from.includes(this.row.status)) return null;
    this.row = { ...this.row, status: to };
    this.moves.push({ to, fields });
    return this.row;
  }
}

class FakeProvider implements MessageProvider {
  calls = 0;
  constructor(
    readonly name: string,
    private readonly answer: () => Promise<SendResult>,
  ) {}
  send(): Promise<SendResult> {
    this.calls++;
    return this.answer();
  }
}

const metrics = {
  histogram: () => ({ observe: () => undefined }),
  counter: () => ({ inc: () => undefined }),
} as unknown as MetricsService;

function message(overrides: Partial<MessageRow> = {}): MessageRow {
  const now = new Date();
  return {
    id: 'm1',
    client_id: 'c1',
    type: 'sms',
    from: null,
    to: '+919876543210',
    subject: null,
    body: 'hello',
    media_urls: null,
    metadata: null,
    status_callback: null,
    sensitive: false,
    status: 'pending',
    provider: null,
    provider_message_id: null,
    retry_count: 0,
    error: null,
    send_at: null,
    encoding: 'GSM-7',
    segments: 1,
    valid_until: null,
    template: null,
    locale: null,
    whatsapp_content_sid: null,
    content_variables: null,
    dlt_template_id: null,
    attempts: [],
    idempotency_key: null,
    request_hash: null,
    created_at: now,
    updated_at: now,
    sent_at: null,
    delivered_at: null,
    ...overrides,
  };
}

function setup(opts: {
  row?: Partial<MessageRow>;
  answer?: () => Promise<SendResult>;
  blacklisted?: boolean;
  block?: NumberBlock;
}) {
  const status = new FakeStatus(message(opts.row));
  const provider = new FakeProvider('sms-fake', opts.answer ?? (async () => ({ providerMessageId: 'p1' })));
  const email = new FakeProvider('email-fake', async () => ({ providerMessageId: 'e1' }));
  const blocks = {
    of: async (): Promise<NumberBlock> => opts.block ?? (opts.blacklisted ? 'blacklisted' : null),
  } as unknown as NumberBlocks;
  const suppressed: string[] = [];
  const suppressions = {
    add: async (mobile: string) => {
      suppressed.push(mobile);
      return true;
    },
  } as unknown as SuppressionList;
  const sender = new MessageSender(
    status as unknown as MessageStatusService,
    provider,
    email,
    blocks,
    suppressions,
    metrics,
  );
  return { sender, status, provider, email, suppressed };
}

const first = { number: 1, final: false };
const last = { number: 5, final: true };
const failWith = (kind: ProviderError['kind'], code?: string) => async (): Promise<SendResult> => {
  throw new ProviderError(`provider said ${kind}`, kind, code);
};

describe('MessageSender', () => {
  it('sends a pending message once: pending → sending → sent, with the provider id', async () => {
    const { sender, status, provider } = setup({});
    expect(await sender.send('m1', first)).toBe('sent');
    expect(provider.calls).toBe(1);
    expect(status.moves.map((m) => m.to)).toEqual(['sending', 'sent']);
    expect(status.moves[1].fields).toMatchObject({
      provider: 'sms-fake',
      providerMessageId: 'p1',
      error: null,
    });
  });

  it('marks delivered at once what the provider delivered at once (console)', async () => {
    const { sender, status } = setup({
      answer: async () => ({ providerMessageId: 'x', deliveredNow: true }),
    });
    await sender.send('m1', first);
    expect(status.moves.map((m) => m.to)).toEqual(['sending', 'sent', 'delivered']);
  });

  it.each(['sending', 'sent', 'delivered', 'failed'] as MessageStatus[])(
    'skips a message already %s, without calling the provider (a job delivered twice)',
    async (already) => {
      const { sender, status, provider } = setup({ row: { status: already } });
      expect(await sender.send('m1', first)).toBe('skipped');
      expect(provider.calls).toBe(0);
      expect(status.moves).toEqual([]);
    },
  );

  it('fails a message whose number was blacklisted since, without calling the provider', async () => {
    const { sender, status, provider } = setup({ blacklisted: true });
    expect(await sender.send('m1', first)).toBe('failed');
    expect(provider.calls).toBe(0);
    expect(status.moves.map((m) => [m.to, m.fields.error])).toEqual([
      ['sending', undefined],
      ['failed', 'BLACKLISTED'],
    ]);
  });

  it('fails a message whose number opted out since with OPTED_OUT, not retried, without calling the provider', async () => {
    const { sender, status, provider } = setup({ block: 'opted_out' });
    expect(await sender.send('m1', { number: 1, final: false })).toBe('failed');
    expect(provider.calls).toBe(0);
    expect(status.moves.map((m) => [m.to, m.fields.error])).toEqual([
      ['sending', undefined],
      ['failed', 'OPTED_OUT'],
    ]);
  });

  it("fails for good, and suppresses the number, on a provider's opt-out error", async () => {
    const { sender, status, suppressed } = setup({
      answer: async () => {
        throw new ProviderError('Twilio 400 error 21610: unsubscribed', 'rejected', 'OPTED_OUT');
      },
    });
    expect(await sender.send('m1', first)).toBe('failed');
    expect(suppressed).toEqual([message().to]);
    expect(status.moves.map((m) => [m.to, m.fields.error])).toEqual([
      ['sending', undefined],
      ['failed', 'OPTED_OUT'],
    ]);
  });

  it('fails a message past its validity with EXPIRED, without calling the provider', async () => {
    const { sender, status, provider } = setup({ row: { valid_until: new Date(Date.now() - 1) } });
    expect(await sender.send('m1', first)).toBe('failed');
    expect(provider.calls).toBe(0);
    expect(status.moves.map((m) => [m.to, m.fields.error])).toEqual([
      ['sending', undefined],
      ['failed', 'EXPIRED'],
    ]);
  });

  it('sends a message still within its validity', async () => {
    const { sender, provider } = setup({ row: { valid_until: new Date(Date.now() + 60_000) } });
    expect(await sender.send('m1', first)).toBe('sent');
    expect(provider.calls).toBe(1);
  });

  it('sends e-mail through the e-mail provider and never asks the blacklist', async () => {
    const { sender, provider, email } = setup({
      row: { type: 'email', to: 'a@example.com' },
      blacklisted: true,
    });
    expect(await sender.send('m1', first)).toBe('sent');
    expect([provider.calls, email.calls]).toEqual([0, 1]);
  });

  it.each(['not_sent', 'refused'] as const)(
    'puts a %s failure back to pending and asks BullMQ to retry (nothing left the service)',
    async (kind) => {
      const { sender, status } = setup({ answer: failWith(kind) });
      await expect(sender.send('m1', first)).rejects.toThrow(ProviderError);
      expect(status.moves.map((m) => m.to)).toEqual(['sending', 'pending']);
      expect(status.moves[1].fields).toMatchObject({ incrementRetry: true, detail: { kind } });
    },
  );

  it('fails a retryable failure on the last attempt instead of retrying', async () => {
    const { sender, status } = setup({ answer: failWith('refused') });
    expect(await sender.send('m1', last)).toBe('failed');
    expect(status.moves.map((m) => m.to)).toEqual(['sending', 'failed']);
  });

  it('fails a rejected message at once, without a retry', async () => {
    const { sender, status } = setup({ answer: failWith('rejected', '21211') });
    expect(await sender.send('m1', first)).toBe('failed');
    expect(status.moves[1]).toMatchObject({ to: 'failed', fields: { detail: { code: '21211' } } });
  });

  it('never retries a send whose outcome is unknown (the provider may have it): failed, DELIVERY_UNKNOWN', async () => {
    const { sender, status, provider } = setup({ answer: failWith('unknown', DELIVERY_UNKNOWN) });
    expect(await sender.send('m1', first)).toBe('failed');
    expect(provider.calls).toBe(1);
    expect(status.moves[1].fields).toMatchObject({ detail: { kind: 'unknown', code: DELIVERY_UNKNOWN } });
  });

  it('takes an error that is not the provider verdict (a bug) for unknown, never for "not sent"', async () => {
    const { sender, status } = setup({
      answer: async () => {
        throw new TypeError('cannot read properties of undefined');
      },
    });
    expect(await sender.send('m1', first)).toBe('failed');
    expect(String(status.moves[1].fields.error)).toMatch(/^DELIVERY_UNKNOWN: cannot read properties/);
  });
});
