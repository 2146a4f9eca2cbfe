// How a deliver_sm is read: receipts by their TLVs or, as many SMSCs send them, by the text alone.
import { PDU } from 'smpp';
import { readReceipt } from './smpp.provider';

const deliverSm = (fields: Record<string, unknown>) => {
  // Through the wire format and back, as the session hands it over (the text decoded).
  const pdu = new PDU('deliver_sm', { source_addr: '919000000001', data_coding: 0, ...fields });
  return new PDU((pdu as unknown as { toBuffer(): Buffer }).toBuffer() as never);
};
const text = (id: string, stat: string, err = '000') =>
  `id:${id} sub:001 dlvrd:001 submit date:2612041000 done date:2612041001 stat:${stat} err:${err} text:hello`;

describe('readReceipt', () => {
  it('reads the receipted_message_id and message_state TLVs', () => {
    const r = readReceipt(
      deliverSm({ esm_class: 0x04, receipted_message_id: 'abc123', message_state: 2, short_message: 'x' }),
    );
    expect(r).toEqual({ id: 'abc123', stat: 'DELIVRD', err: undefined, status: 'delivered' });
  });

  it('reads a receipt that carries only the text of SMPP 3.4 appendix B', () => {
    expect(
      readReceipt(deliverSm({ esm_class: 0x04, short_message: text('7f00a1', 'UNDELIV', '011') })),
    ).toEqual({
      id: '7f00a1',
      stat: 'UNDELIV',
      err: '011',
      status: 'undelivered',
    });
    expect(readReceipt(deliverSm({ esm_class: 0x04, short_message: text('9', 'REJECTD') }))?.status).toBe(
      'failed',
    );
    expect(readReceipt(deliverSm({ esm_class: 0x04, short_message: text('9', 'EXPIRED') }))?.status).toBe(
      'undelivered',
    );
  });

  it('takes an intermediate ENROUTE as sent, and an UNKNOWN state as nothing to record', () => {
    expect(readReceipt(deliverSm({ esm_class: 0x20, short_message: text('9', 'ENROUTE') }))?.status).toBe(
      'sent',
    );
    expect(
      readReceipt(deliverSm({ esm_class: 0x04, short_message: text('9', 'UNKNOWN') }))?.status,
    ).toBeUndefined();
  });

  it('is not fooled by a mobile-originated message, even one whose text looks like a receipt', () => {
    expect(readReceipt(deliverSm({ esm_class: 0, short_message: text('9', 'DELIVRD') }))).toBeNull();
    expect(readReceipt(deliverSm({ esm_class: 0, short_message: 'START' }))).toBeNull();
  });

  it('refuses a receipt without a message id', () => {
    expect(readReceipt(deliverSm({ esm_class: 0x04, short_message: 'stat:DELIVRD' }))).toBeNull();
  });
});
