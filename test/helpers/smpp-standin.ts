// A local SMSC on the `smpp` package's server side: it takes bind_transceiver (checking system_id and
// password), records every submit_sm with its decoded text, answers with a message id and then sends a
// deliver_sm delivery receipt. It can be told to refuse a submit_sm with an error status, to drop the connection
// after reading it, to delay its answer or never answer, to send the receipt before the answer, or to refuse
// binds; it can be stopped and started again on the same port.
import { randomInt } from 'node:crypto';
import * as smpp from 'smpp';
import { freePort } from './redis-server';

export interface SmppSubmit {
  destination: string;
  source: string;
  sourceTon: number;
  dataCoding: number;
  registeredDelivery: number;
  /** Where the text came in: `short_message`, or `message_payload` for a long one. */
  field: 'short_message' | 'message_payload';
  text: string;
  messageId?: string;
  validityPeriod?: unknown;
  /** India DLT TLVs (0x1400 entity id, 0x1401 content-template id), when sent. */
  dltEntityId?: string;
  dltTemplateId?: string;
}

export interface SmppFault {
  /** Answer submit_sm with this error status (e.g. smpp.errors.ESME_RTHROTTLED). */
  status?: number;
  /** Destroy the connection right after reading submit_sm. */
  drop?: boolean;
  /** Answer after this many milliseconds (its receipt follows). */
  delayMs?: number;
  /** Never answer (the submit_sm stays outstanding until the connection goes). */
  silent?: boolean;
  /** Send the receipt before submit_sm_resp. */
  receiptFirst?: boolean;
  /** The receipt's stat word (DELIVRD by default); `none` sends no receipt. */
  stat?: string;
}

export class SmppStandIn {
  static readonly SYSTEM_ID = 'smsbridge';
  static readonly PASSWORD = 'secret12';

  readonly submits: SmppSubmit[] = [];
  binds = 0;
  enquireLinks = 0;
  /** The most submit_sm read and not yet answered at once on one bind (the client's window). */
  maxOutstanding = 0;
  private readonly outstanding = new Map<smpp.Session, number>();
  /** Receipts answered with an error status by the client (it could not store them). */
  receiptsRefused = 0;
  refuseBinds = false;
  private readonly faults: (SmppFault & { to?: string })[] = [];
  private server?: smpp.Server;
  // Ids no other stand-in (another suite, an earlier run in the same database) has given: a receipt is matched
  // by its id alone.
  private nextId = randomInt(0x7fff0000);

  private constructor(readonly port: number) {}

  static async start(): Promise<SmppStandIn> {
    const s = new SmppStandIn(await freePort());
    await s.listen();
    return s;
  }

  get url(): string {
    return `smpp://${SmppStandIn.SYSTEM_ID}:${SmppStandIn.PASSWORD}@127.0.0.1:${this.port}`;
  }

  /** The next `times` submits (to `to` only, when given: E.164) meet this fault. */
  failNext(times: number, fault: SmppFault, to?: string): void {
    for (let i = 0; i < times; i++) this.faults.push({ ...fault, to: to?.replace(/^\+/, '') });
  }

  to(number: string): SmppSubmit[] {
    return this.submits.filter((s) => s.destination === number.replace(/^\+/, ''));
  }

  get sessionCount(): number {
    return this.server?.sessions.length ?? 0;
  }

  async listen(): Promise<void> {
    this.server = smpp.createServer({}, (session) => this.serve(session));
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  /** Closes the listener and every connection at once (an SMSC going away). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const session of [...server.sessions]) session.destroy();
    await new Promise((r) => server.close(r));
  }

  private serve(session: smpp.Session): void {
    session.on('error', () => undefined);
    session.on('bind_transceiver', (pdu: smpp.PDU) => {
      const ok =
        !this.refuseBinds && pdu.system_id === SmppStandIn.SYSTEM_ID && pdu.password === SmppStandIn.PASSWORD;
      if (ok) this.binds++;
      session.send(
        pdu.response({ command_status: ok ? 0 : smpp.errors.ESME_RBINDFAIL, system_id: 'standin' }),
      );
      if (!ok) setTimeout(() => session.close(), 10);
    });
    session.on('enquire_link', (pdu: smpp.PDU) => {
      this.enquireLinks++;
      session.send(pdu.response());
    });
    session.on('unbind', (pdu: smpp.PDU) => session.send(pdu.response(), () => session.close()));
    session.on('submit_sm', (pdu: smpp.PDU) => void this.onSubmit(session, pdu));
  }

  private async onSubmit(session: smpp.Session, pdu: smpp.PDU): Promise<void> {
    const payload = pdu.message_payload as { message?: string } | undefined;
    const short = pdu.short_message as { message?: string } | undefined;
    const submit: SmppSubmit = {
      destination: String(pdu.destination_addr),
      source: String(pdu.source_addr),
      sourceTon: Number(pdu.source_addr_ton),
      dataCoding: Number(pdu.data_coding),
      registeredDelivery: Number(pdu.registered_delivery),
      field: payload?.message ? 'message_payload' : 'short_message',
      text: String(payload?.message || short?.message || ''),
      validityPeriod: pdu.validity_period,
      dltEntityId: pdu.dlt_pe_id as string | undefined,
      dltTemplateId: pdu.dlt_template_id as string | undefined,
    };
    this.submits.push(submit);
    const outstanding = (this.outstanding.get(session) ?? 0) + 1;
    this.outstanding.set(session, outstanding);
    this.maxOutstanding = Math.max(this.maxOutstanding, outstanding);
    try {
      await this.answer(session, pdu, submit);
    } finally {
      this.outstanding.set(session, this.outstanding.get(session)! - 1);
    }
  }

  private async answer(session: smpp.Session, pdu: smpp.PDU, submit: SmppSubmit): Promise<void> {
    const at = this.faults.findIndex((f) => !f.to || f.to === submit.destination);
    const fault = at < 0 ? {} : this.faults.splice(at, 1)[0];
    if (fault.drop) {
      session.destroy();
      return;
    }
    if (fault.silent) return new Promise<void>((resolve) => session.socket.once('close', () => resolve()));
    if (fault.status) {
      session.send(pdu.response({ command_status: fault.status }));
      return;
    }
    const messageId = `${(this.nextId++).toString(16).padStart(8, '0')}`;
    submit.messageId = messageId;
    const receipt = () => {
      if (fault.stat === 'none' || !pdu.registered_delivery) return;
      this.sendReceipt(session, submit, fault.stat ?? 'DELIVRD');
    };
    if (fault.receiptFirst) receipt();
    if (fault.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
    session.send(pdu.response({ message_id: messageId }));
    if (!fault.receiptFirst) setTimeout(receipt, 20);
  }

  /** Sends `command` (enquire_link, unbind, query_sm…) on the first session; the answer's command and status. */
  request(
    command: string,
    fields: Record<string, unknown> = {},
  ): Promise<{ command: string; status: number }> {
    const session = this.server?.sessions[0];
    if (!session) throw new Error('no session');
    return new Promise((resolve) =>
      session.send(new smpp.PDU(command, fields), (resp) =>
        resolve({ command: resp.command, status: resp.command_status }),
      ),
    );
  }

  /**
   * A mobile-originated SMS (esm_class 0: not a receipt) from `from` (E.164) to `to`, on the first session; the
   * client's deliver_sm_resp status.
   */
  sendMobileOriginated(from: string, to: string, text: string, ton = 1): Promise<number> {
    const session = this.server?.sessions[0];
    if (!session) throw new Error('no session to deliver on');
    return new Promise((resolve) =>
      session.send(
        new smpp.PDU('deliver_sm', {
          source_addr_ton: ton,
          source_addr_npi: 1,
          source_addr: from.replace(/^\+/, ''),
          destination_addr: to,
          esm_class: 0,
          data_coding: 0,
          short_message: { message: text },
        }),
        (resp) => resolve(Number(resp.command_status)),
      ),
    );
  }

  /** A delivery receipt as SMSCs send them: esm_class 0x04, the TLVs, and the text of SMPP 3.4 appendix B. */
  sendReceipt(session: smpp.Session | undefined, submit: SmppSubmit, stat: string): void {
    const target = session ?? this.server?.sessions[0];
    if (!target) throw new Error('no session to send the receipt on');
    const states: Record<string, number> = {
      DELIVRD: 2,
      EXPIRED: 3,
      DELETED: 4,
      UNDELIV: 5,
      ACCEPTD: 6,
      REJECTD: 8,
    };
    const date = new Date().toISOString().replace(/\D/g, '').slice(2, 12);
    const text = `id:${submit.messageId} sub:001 dlvrd:${stat === 'DELIVRD' ? '001' : '000'} submit date:${date} done date:${date} stat:${stat} err:${stat === 'DELIVRD' ? '000' : '001'} text:`;
    target.send(
      new smpp.PDU('deliver_sm', {
        source_addr: submit.destination,
        destination_addr: submit.source,
        esm_class: 0x04,
        data_coding: 0,
        short_message: { message: text },
        receipted_message_id: submit.messageId,
        ...(states[stat] ? { message_state: states[stat] } : {}),
      }),
      (resp) => {
        if (resp.command_status) this.receiptsRefused++;
      },
    );
  }
}
