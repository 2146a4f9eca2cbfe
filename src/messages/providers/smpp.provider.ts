// SMS through an SMSC over SMPP 3.4 (the `smpp` package): one bind_transceiver, held by the worker and made
// again with backoff when it drops, a window of submit_sm awaiting their answers, enquire_link to notice a dead
// link, and deliver_sm delivery receipts handed to ProviderReports (stored before the SMSC is answered).
import { Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import * as smpp from 'smpp';
import { maskPhone } from '../../common/mask';
import { normalizePhone } from '../../common/phone';
import type { ProviderReport } from '../message-status.service';
import { DELIVERY_UNKNOWN, MessageRow, MessageStatus } from '../message.types';
import { countSegments } from '../segments';
import {
  blockedError,
  expiredError,
  MessageProvider,
  NumberBlockCode,
  ProviderError,
  SendResult,
} from './provider';
import type { ReportOutcome } from './provider-reports';

export interface SmppOptions {
  host: string;
  port: number;
  tls: boolean;
  systemId: string;
  password: string;
  systemType?: string;
  sourceAddr: string;
  /** submit_sm written and not yet answered on the bind, at most (one given up as unknown still counts). */
  window: number;
  enquireLinkSec: number;
  /** Longest wait for the bind, a window slot, or a submit_sm_resp. */
  timeoutMs: number;
  /** Keep a bind at all times (the worker: receipts arrive on it); otherwise bind on the first send. */
  hold: boolean;
  /** India DLT: the principal entity id (DLT_ENTITY_ID), sent with every submit_sm. */
  dltEntityId?: string;
}

// India DLT over SMPP: the TLVs Indian operators' SMSCs read for the principal entity id and the content
// template id (vendor-specific tags, the ones in common use).
smpp.addTLV('dlt_pe_id', { id: 0x1400, type: smpp.types.tlv.cstring });
smpp.addTLV('dlt_template_id', { id: 0x1401, type: smpp.types.tlv.cstring });

/**
 * Where receipts go (ProviderReports.record): resolves once the report is stored (`applied` when it moved its
 * message), throws when it is not.
 */
export type ReportSink = (report: ProviderReport) => Promise<ReportOutcome>;

/** The event a mobile-originated SMS is announced with (the inbound pipeline listens; see InboundSink). */
export const SMS_RECEIVED = 'sms.received';

/** A mobile-originated SMS (deliver_sm that is not a receipt): its sender in E.164, which of our numbers it was sent to, its text. */
export interface MobileOriginated {
  from: string;
  to: string;
  text: string;
}

/**
 * Where mobile-originated SMS go (the inbound pipeline, through the SMS_RECEIVED event): resolves with the text
 * to answer with (an opt-out keyword's reply) or null once it was handled; throws when it was not (the SMSC is
 * told to deliver it again).
 */
export type InboundSink = (mo: MobileOriginated) => Promise<string | null>;

const ERROR_NAMES = new Map(Object.entries(smpp.errors).map(([name, code]) => [code, name]));

/**
 * submit_sm_resp statuses that refuse the message for now (the SMSC is busy, throttling, or failing): it did
 * not take it, so it may be sent again. Every other error status rejects the message for good (a bad number,
 * a text the SMSC will not take, a prohibited sender).
 */
const TRANSIENT = new Set(
  [
    'ESME_RINVBNDSTS',
    'ESME_RSYSERR',
    'ESME_RMSGQFUL',
    'ESME_RSUBMITFAIL',
    'ESME_RTHROTTLED',
    'ESME_RX_T_APPN',
    'ESME_RUNKNOWNERR',
  ].map((name) => smpp.errors[name]),
);

/** SMPP 3.4 message_state (a receipt's TLV) and the `stat:` word of its text, onto our statuses. */
const MESSAGE_STATE: Record<number, string> = {
  1: 'ENROUTE',
  2: 'DELIVRD',
  3: 'EXPIRED',
  4: 'DELETED',
  5: 'UNDELIV',
  6: 'ACCEPTD',
  7: 'UNKNOWN',
  8: 'REJECTD',
};
const STAT: Record<string, MessageStatus | undefined> = {
  ENROUTE: 'sent',
  ACCEPTD: 'sent',
  DELIVRD: 'delivered',
  EXPIRED: 'undelivered',
  UNDELIV: 'undelivered',
  DELETED: 'failed',
  REJECTD: 'failed',
};

const MAX_BACKOFF_MS = 30_000;
const INTERFACE_VERSION = 0x34;
/** esm_class message type bits: an SMSC delivery receipt, or an intermediate delivery notification. */
const RECEIPT_TYPES = new Set([0x04, 0x20]);

interface InFlight {
  /** The SMSC's submit_sm_resp, or null: the bind is gone and no answer will come. */
  answered(resp: smpp.PDU | null): void;
}

export class SmppProvider implements MessageProvider, OnApplicationBootstrap, OnApplicationShutdown {
  readonly name = 'smpp';

  /** SMS only: a route sends MMS and WhatsApp through another provider. */
  carries(type: MessageRow['type']): boolean {
    return type === 'sms';
  }
  private readonly logger = new Logger('SmppProvider');
  private session?: smpp.Session;
  private bound = false;
  private connecting?: Promise<smpp.Session>;
  private bindWaiters: { resolve: (s: smpp.Session) => void }[] = [];
  private readonly inFlight = new Map<number, InFlight>();
  /** Window slots taken: sends from their slot until the SMSC answers their submit_sm or the bind is gone. */
  private slots = 0;
  /** Of those, submit_sm given up as unknown and still unanswered. */
  private givenUp = 0;
  private windowWaiters: (() => void)[] = [];
  private failures = 0;
  private reconnectTimer?: NodeJS.Timeout;
  private enquireTimer?: NodeJS.Timeout;
  private closing = false;
  private lastBindError?: string;

  constructor(
    private readonly opts: SmppOptions,
    private readonly reports: ReportSink,
    private readonly inbound?: InboundSink,
    /** What blocks a number now (NumberBlocks): asked again when a send had to wait for its slot or bind. */
    private readonly mayStillSend?: (to: string) => Promise<NumberBlockCode | null>,
  ) {}

  onApplicationBootstrap(): void {
    if (this.opts.hold) this.connect().catch(() => undefined); // a failure schedules the next try
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.enquireTimer);
    const session = this.session;
    if (!session) return;
    // unbind, and give the SMSC a moment to answer it; then the socket goes whatever it said.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      session.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (!this.bound || !session.send(new smpp.PDU('unbind'), () => session.close())) resolve();
    });
    session.destroy();
  }

  /** Whether a bind is up now (for tests and health). */
  get isBound(): boolean {
    return this.bound;
  }

  async send(m: MessageRow): Promise<SendResult> {
    if (m.type !== 'sms')
      throw new ProviderError(`SMPP sends SMS only, not ${m.type}`, 'rejected', 'UNSUPPORTED_MESSAGE_TYPE');
    const deadline = Date.now() + this.opts.timeoutMs;
    let waited = await this.windowSlot(deadline);
    let session: smpp.Session;
    let validity: number | undefined;
    try {
      waited ||= !this.bound;
      session = await this.boundSession(deadline);
      // The wait for the slot and the bind may have used up the message's validity: never sent late (and never
      // without a validity_period). A rejection, so neither retried nor handed to the route's next provider.
      const left = m.valid_until ? new Date(m.valid_until).getTime() - Date.now() : undefined;
      if (left !== undefined && left <= 0) throw expiredError();
      validity = left === undefined ? undefined : Math.ceil(left / 1000);
      // The number may have opted out (or been blacklisted) while this send waited: asked again, only then.
      const block = waited && this.mayStillSend ? await this.mayStillSend(m.to) : null;
      if (block) throw blockedError(block);
    } catch (err) {
      this.releaseSlot();
      throw err;
    }
    return this.submit(session, m, validity);
  }

  /** Writes submit_sm; its window slot is given back only when the SMSC answers it or the bind is gone. */
  private submit(
    session: smpp.Session,
    m: MessageRow,
    validity?: number,
    receipt = true,
  ): Promise<SendResult> {
    const pdu = new smpp.PDU('submit_sm', {
      ...this.submitFields(m, validity),
      registered_delivery: receipt ? 1 : 0,
    });
    return new Promise<SendResult>((resolve, reject) => {
      let gaveUp: ((sent: boolean) => void) | undefined;
      const answered = (resp: smpp.PDU | null) => {
        if (this.inFlight.get(pdu.sequence_number) !== entry) return; // answered once: by the SMSC or the drop
        this.inFlight.delete(pdu.sequence_number);
        clearTimeout(timer);
        this.releaseSlot();
        if (gaveUp) {
          // The answer came after the send was given up as unknown: it tells what happened after all.
          this.givenUp--;
          if (!resp || resp.command_status || !resp.message_id) return gaveUp(false);
          return void this.lateAnswer(m, String(resp.message_id)).then(gaveUp);
        }
        if (!resp) return reject(unknown('the connection to the SMSC closed after submit_sm was written'));
        try {
          resolve(this.verdict(resp));
        } catch (e) {
          reject(e as Error);
        }
      };
      const entry: InFlight = { answered };
      if (!session.send(pdu, answered)) {
        this.releaseSlot();
        // The socket was no longer writable: nothing of this submit_sm left.
        return reject(
          new ProviderError(
            'SMPP: the bind closed before the message was written',
            'not_sent',
            'SMPP_NOT_BOUND',
          ),
        );
      }
      this.inFlight.set(pdu.sequence_number, entry);
      const timer = setTimeout(() => {
        // Still outstanding on the bind, so it keeps its slot (the window holds on the wire); a late answer is
        // recorded through sentLate.
        const err = unknown(`the SMSC did not answer submit_sm within ${this.opts.timeoutMs} ms`);
        err.sentLate = new Promise<boolean>((r) => (gaveUp = r));
        reject(err);
        if (++this.givenUp >= this.opts.window) {
          // Every slot waits for an answer that may never come (an SMSC that stopped answering submit_sm but
          // answers enquire_link): only a new bind gives the window back.
          this.logger.warn(`SMPP: ${this.givenUp} submit_sm unanswered past the timeout; dropping the bind`);
          session.destroy();
        }
      }, this.opts.timeoutMs);
    });
  }

  /** What a submit_sm_resp says: the SMSC's message id, or a refusal (retried) or rejection (failed). */
  private verdict(resp: smpp.PDU): SendResult {
    const status = resp.command_status;
    if (!status) {
      const id = String(resp.message_id ?? '');
      if (!id) throw unknown('the SMSC accepted submit_sm without a message id');
      return { providerMessageId: id };
    }
    const name = ERROR_NAMES.get(status) ?? `0x${status.toString(16).padStart(8, '0')}`;
    throw new ProviderError(
      `SMPP submit_sm refused: ${name}`,
      TRANSIENT.has(status) ? 'refused' : 'rejected',
      `SMPP_${name}`,
    );
  }

  /** `validity`: the seconds the message has left (what its valid_until leaves, checked by send). */
  private submitFields(m: MessageRow, validity?: number): smpp.PduFields {
    const { encoding, segments } = countSegments(m.body);
    const text = { message: m.body };
    const source = sourceAddress(m.from ?? this.opts.sourceAddr);
    const fields: smpp.PduFields = {
      ...source,
      dest_addr_ton: 1,
      dest_addr_npi: 1,
      destination_addr: m.to.replace(/^\+/, ''),
      // A receipt for the final outcome, delivered or failed (SMPP 3.4 §5.2.17).
      registered_delivery: 1,
      // SMSC default alphabet (GSM 03.38) or UCS-2 (UTF-16BE); the package encodes the text accordingly.
      data_coding: encoding === 'GSM-7' ? 0x00 : 0x08,
      // One segment fits short_message; a longer text goes whole in message_payload, and the SMSC splits it.
      ...(segments > 1 ? { short_message: Buffer.alloc(0), message_payload: text } : { short_message: text }),
    };
    if (this.opts.dltEntityId) fields.dlt_pe_id = this.opts.dltEntityId;
    if (m.dlt_template_id) fields.dlt_template_id = m.dlt_template_id;
    if (validity) fields.validity_period = relativeTime(validity);
    return fields;
  }

  /** Records a late submit_sm_resp: true when it moved the message (to `sent`). */
  private lateAnswer(m: MessageRow, providerMessageId: string): Promise<boolean> {
    return this.reports({
      provider: this.name,
      providerMessageId,
      messageId: m.id,
      status: 'sent',
      detail: { late_submit_sm_resp: true },
    }).then(
      (outcome) => outcome === 'applied',
      (err: Error) => {
        this.logger.warn(`late submit_sm_resp for ${m.id} not recorded: ${err.message}`);
        return false;
      },
    );
  }

  // --- the bind -------------------------------------------------------------------------------------------

  /** The bound session, waiting for one (a bind under way or, held, the next reconnect) until the deadline. */
  private async boundSession(deadline: number): Promise<smpp.Session> {
    if (this.bound && this.session) return this.session;
    if (this.closing) throw new ProviderError('SMPP: shutting down', 'not_sent', 'SMPP_NOT_BOUND');
    const left = Math.max(0, deadline - Date.now());
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new ProviderError(
              `SMPP: no bind to the SMSC within ${this.opts.timeoutMs} ms${this.lastBindError ? ` (${this.lastBindError})` : ''}`,
              'not_sent',
              'SMPP_NOT_BOUND',
            ),
          ),
        left,
      );
    });
    const entry = { resolve: (_: smpp.Session) => undefined as void };
    const waiter = new Promise<smpp.Session>((resolve) => (entry.resolve = resolve));
    try {
      if (!this.opts.hold) {
        // Bound on demand: this send's own attempt; its failure proves nothing was submitted.
        return await Promise.race([this.connect(), timeout]).catch((err: Error) => {
          if (err instanceof ProviderError) throw err;
          throw new ProviderError(`SMPP: bind failed (${err.message})`, 'not_sent', 'SMPP_NOT_BOUND');
        });
      }
      // Held: the bind under way, or the next reconnect, serves this send (sends do not hurry the backoff).
      this.bindWaiters.push(entry);
      if (!this.connecting && !this.reconnectTimer) this.connect().catch(() => undefined);
      return await Promise.race([waiter, timeout]);
    } finally {
      clearTimeout(timer);
      this.bindWaiters = this.bindWaiters.filter((w) => w !== entry);
    }
  }

  /** Connects and binds as a transceiver; one attempt at a time. */
  private connect(): Promise<smpp.Session> {
    if (this.connecting) return this.connecting;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.connecting = new Promise<smpp.Session>((resolve, reject) => {
      const { host, port, tls } = this.opts;
      const session = smpp.connect({ host, port, tls });
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        session.destroy();
        reject(err);
      };
      const timer = setTimeout(
        () => fail(new Error(`no bind_transceiver_resp within ${this.opts.timeoutMs} ms`)),
        this.opts.timeoutMs,
      );
      session.on(tls ? 'secureConnect' : 'connect', () => {
        const bind = new smpp.PDU('bind_transceiver', {
          system_id: this.opts.systemId,
          password: this.opts.password,
          system_type: this.opts.systemType ?? '',
          interface_version: INTERFACE_VERSION,
        });
        session.send(bind, (resp) => {
          if (resp.command_status) {
            const name = ERROR_NAMES.get(resp.command_status) ?? String(resp.command_status);
            return fail(new Error(`the SMSC refused the bind: ${name}`));
          }
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          this.bound = true;
          this.failures = 0;
          this.lastBindError = undefined;
          this.startEnquireLink(session);
          this.logger.log(`bound to ${host}:${port} as ${this.opts.systemId}`);
          resolve(session);
          for (const w of this.bindWaiters.splice(0)) w.resolve(session);
        });
      });
      session.on('error', (err: Error) => {
        // A connection refused (nothing written) and one lost later are both ends of this session; so is a
        // PDU that cannot be read, after which the package reads nothing more from the socket.
        if (!settled) fail(Object.assign(new Error(describe(err)), { cause: err }));
        else session.destroy();
      });
      session.on('close', () => {
        fail(new Error('the SMSC closed the connection before the bind'));
        this.dropped(session);
      });
      session.on('pdu', (pdu: smpp.PDU) => this.onPdu(session, pdu));
      this.session = session;
    }).finally(() => {
      this.connecting = undefined;
    });
    this.connecting.catch((err: Error) => {
      this.failures++;
      if (this.lastBindError !== err.message)
        this.logger.warn(`SMPP bind to ${this.opts.host}:${this.opts.port} failed: ${err.message}`);
      this.lastBindError = err.message;
    });
    return this.connecting;
  }

  /** The session ended: its unanswered submit_sm may have reached the SMSC (unknown); a held bind is made again. */
  private dropped(session: smpp.Session): void {
    if (this.session !== session) return;
    const wasBound = this.bound;
    this.bound = false;
    this.session = undefined;
    clearInterval(this.enquireTimer);
    // Each gives its window slot back: nothing is outstanding on a bind that is gone.
    for (const f of [...this.inFlight.values()]) f.answered(null);
    if (wasBound && !this.closing) this.logger.warn(`SMPP bind to ${this.opts.host}:${this.opts.port} lost`);
    if (this.opts.hold && !this.closing) {
      const backoff = Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(this.failures, 10));
      const delay = Math.round(backoff * (0.75 + Math.random() * 0.5));
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = undefined;
        this.connect().catch(() => undefined);
      }, delay);
      this.reconnectTimer.unref();
    }
  }

  private startEnquireLink(session: smpp.Session): void {
    clearInterval(this.enquireTimer);
    this.enquireTimer = setInterval(() => {
      // No answer in time: the link is dead though the socket looks open; dropping it makes the bind again.
      const timer = setTimeout(
        () => session.destroy(),
        Math.min(this.opts.timeoutMs, this.opts.enquireLinkSec * 1000),
      );
      if (!session.send(new smpp.PDU('enquire_link'), () => clearTimeout(timer))) clearTimeout(timer);
    }, this.opts.enquireLinkSec * 1000);
    this.enquireTimer.unref();
  }

  // --- what the SMSC sends --------------------------------------------------------------------------------

  private onPdu(session: smpp.Session, pdu: smpp.PDU): void {
    if (pdu.isResponse()) return; // answers reach their callbacks
    switch (pdu.command) {
      case 'deliver_sm':
        void this.onDeliverSm(session, pdu);
        return;
      case 'enquire_link':
        session.send(pdu.response());
        return;
      case 'unbind':
        session.send(pdu.response(), () => session.close());
        return;
      case 'alert_notification': // has no answer in SMPP 3.4
        return;
      default:
        // Nothing else is expected from an SMSC on a transceiver bind: refused (a generic_nack when unknown).
        try {
          session.send(pdu.response({ command_status: smpp.errors.ESME_RINVCMDID }));
        } catch {
          session.send(
            new smpp.PDU('generic_nack', {
              sequence_number: pdu.sequence_number,
              command_status: smpp.errors.ESME_RINVCMDID,
            }),
          );
        }
    }
  }

  /** A receipt is stored (applied or parked) before deliver_sm_resp; not stored, the SMSC is told to retry. */
  private async onDeliverSm(session: smpp.Session, pdu: smpp.PDU): Promise<void> {
    const receipt = readReceipt(pdu);
    if (!receipt) return this.onMobileOriginated(session, pdu);
    try {
      if (receipt.status)
        await this.reports({
          provider: this.name,
          providerMessageId: receipt.id,
          status: receipt.status,
          ...(receipt.status === 'delivered' || receipt.status === 'sent'
            ? {}
            : { error: `SMPP ${receipt.stat}${receipt.err ? ` err:${receipt.err}` : ''}` }),
          detail: { smpp_stat: receipt.stat, smpp_err: receipt.err ?? null },
        });
      session.send(pdu.response());
    } catch (err) {
      this.logger.warn(
        `SMPP receipt for ${receipt.id} not stored (${(err as Error).message}); the SMSC will send it again`,
      );
      session.send(pdu.response({ command_status: smpp.errors.ESME_RX_T_APPN }));
    }
  }

  /**
   * A mobile-originated SMS: handed to the inbound pipeline (opt-out keywords, then onboarding) before
   * deliver_sm_resp; not handled (Redis or Postgres away), the SMSC is told to deliver it again. A keyword's
   * reply goes back at once on the bind, from the number the person texted, without a receipt: the one message
   * a number that just opted out still gets.
   */
  private async onMobileOriginated(session: smpp.Session, pdu: smpp.PDU): Promise<void> {
    const mo = readMobileOriginated(pdu);
    if (!this.inbound || !mo) {
      this.logger.warn(
        `SMPP deliver_sm ignored: ${this.inbound ? 'its sender is not a valid number' : 'no inbound pipeline in this process'}`,
      );
      session.send(pdu.response());
      return;
    }
    let reply: string | null;
    try {
      reply = await this.inbound(mo);
    } catch (err) {
      this.logger.warn(
        `SMPP mobile-originated SMS from ${maskPhone(mo.from)} not handled (${(err as Error).message}); the SMSC will deliver it again`,
      );
      session.send(pdu.response({ command_status: smpp.errors.ESME_RX_T_APPN }));
      return;
    }
    session.send(pdu.response());
    if (reply) await this.reply(mo, reply);
  }

  private async reply(mo: MobileOriginated, text: string): Promise<void> {
    const deadline = Date.now() + this.opts.timeoutMs;
    try {
      await this.windowSlot(deadline);
      let session: smpp.Session;
      try {
        session = await this.boundSession(deadline);
      } catch (err) {
        this.releaseSlot();
        throw err;
      }
      const row = { id: 'reply', to: mo.from, from: mo.to || null, body: text } as MessageRow;
      await this.submit(session, row, undefined, false);
    } catch (err) {
      this.logger.warn(`SMPP reply to ${maskPhone(mo.from)} not sent: ${(err as Error).message}`);
    }
  }

  // --- the window -----------------------------------------------------------------------------------------

  /** Takes a window slot; true when it had to wait for one. */
  private async windowSlot(deadline: number): Promise<boolean> {
    if (this.slots < this.opts.window) {
      this.slots++;
      return false;
    }
    await new Promise<void>((resolve, reject) => {
      const waiter = () => {
        clearTimeout(timer);
        this.slots++;
        resolve();
      };
      const timer = setTimeout(
        () => {
          this.windowWaiters = this.windowWaiters.filter((w) => w !== waiter);
          reject(
            new ProviderError(
              `SMPP: the window of ${this.opts.window} stayed full`,
              'not_sent',
              'SMPP_WINDOW_FULL',
            ),
          );
        },
        Math.max(0, deadline - Date.now()),
      );
      this.windowWaiters.push(waiter);
    });
    return true;
  }

  private releaseSlot(): void {
    this.slots--;
    this.windowWaiters.shift()?.();
  }
}

function unknown(why: string): ProviderError {
  return new ProviderError(
    `${DELIVERY_UNKNOWN}: ${why}; not sent again to avoid a duplicate`,
    'unknown',
    DELIVERY_UNKNOWN,
  );
}

function describe(err: Error & { code?: string }): string {
  return err.code ? `${err.code}: ${err.message}` : err.message;
}

/** The sender's address and its type: an alphanumeric header, or a number in international format. */
function sourceAddress(addr: string): smpp.PduFields {
  if (/^\+?\d+$/.test(addr)) {
    const international = addr.startsWith('+') || addr.length > 8;
    return {
      source_addr_ton: international ? 1 : 3,
      source_addr_npi: international ? 1 : 0,
      source_addr: addr.replace(/^\+/, ''),
    };
  }
  return { source_addr_ton: 5, source_addr_npi: 0, source_addr: addr };
}

/** SMPP's relative time format (YYMMDDhhmmss000R) for a number of seconds (at most 99 days). */
function relativeTime(seconds: number): string {
  const s = Math.min(seconds, 99 * 86400);
  const two = (n: number) => String(n).padStart(2, '0');
  return `0000${two(Math.floor(s / 86400))}${two(Math.floor((s % 86400) / 3600))}${two(Math.floor((s % 3600) / 60))}${two(s % 60)}000R`;
}

interface Receipt {
  id: string;
  stat: string;
  err?: string;
  status?: MessageStatus;
}

/**
 * A delivery receipt's message id and state, from the TLVs (receipted_message_id, message_state) or else from
 * the text's `id:… stat:… err:…` (SMPP 3.4 appendix B); null when the deliver_sm is not a receipt.
 */
export function readReceipt(pdu: smpp.PDU): Receipt | null {
  const text = readText(pdu);
  const isReceipt =
    RECEIPT_TYPES.has(Number(pdu.esm_class ?? 0) & 0x3c) || pdu.receipted_message_id !== undefined;
  if (!isReceipt) return null;
  const field = (name: string) => new RegExp(`(?:^|\\s)${name}:(\\S+)`, 'i').exec(text)?.[1];
  const id = String(pdu.receipted_message_id ?? field('id') ?? '').trim();
  if (!id) return null;
  const stat =
    (typeof pdu.message_state === 'number'
      ? MESSAGE_STATE[pdu.message_state]
      : field('stat')
    )?.toUpperCase() ?? 'UNKNOWN';
  return { id, stat, err: field('err'), status: STAT[stat] };
}

/** A deliver_sm's text (short_message, or message_payload when it is empty), as the package decoded it. */
function readText(pdu: smpp.PDU): string {
  const short = pdu.short_message as { message?: unknown } | Buffer | string | undefined;
  const empty =
    short === undefined ||
    (typeof short === 'string' && !short) ||
    (Buffer.isBuffer(short) && !short.length) ||
    (typeof short === 'object' && !Buffer.isBuffer(short) && !(short.message as { length?: number })?.length);
  const raw = (empty && pdu.message_payload ? pdu.message_payload : short) as
    { message?: unknown } | Buffer | string | undefined;
  return typeof raw === 'string'
    ? raw
    : Buffer.isBuffer(raw)
      ? raw.toString('latin1')
      : typeof raw?.message === 'string'
        ? raw.message
        : Buffer.isBuffer(raw?.message)
          ? raw.message.toString('latin1')
          : '';
}

/**
 * A mobile-originated SMS: its sender (international unless the SMSC says national, TON 2), the number it was
 * sent to, and its text; null for a receipt or a deliver_sm without a sender.
 */
export function readMobileOriginated(pdu: smpp.PDU): MobileOriginated | null {
  if (readReceipt(pdu)) return null;
  const digits = (v: unknown) => String(v ?? '').replace(/^\+/, '');
  const from = digits(pdu.source_addr);
  if (!/^\d{4,15}$/.test(from)) return null;
  // A national number (TON 2) is read with DEFAULT_COUNTRY; anything else as international digits.
  const national = Number(pdu.source_addr_ton) === 2;
  let e164: string;
  try {
    e164 = normalizePhone(national ? from : `+${from}`, 'source_addr');
  } catch {
    return null;
  }
  return { from: e164, to: String(pdu.destination_addr ?? ''), text: readText(pdu) };
}
