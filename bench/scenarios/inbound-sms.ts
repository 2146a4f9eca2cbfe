// An inbound SMS from a gateway whose hash does not match: the whole validation pipeline, rejected.
import { randomUUID } from 'node:crypto';
import { auth, fresh, KEY } from '../lib/context';
import type { Req } from '../lib/load';
import type { SideBySide } from '../lib/side-by-side';

export async function inboundSms(sbs: SideBySide) {
  const inbound = (headers: Record<string, string>) => (): Req => ({
    method: 'POST',
    path: '/onboard/sms',
    headers,
    body: { mobile_number: fresh(), message: 'ONBOARD ABCDEFGHJK', sms_id: randomUUID() },
  });
  await sbs.compare(
    'inbound SMS (validation, rejected)',
    inbound({ 'x-api-key': `gateway-${KEY}` }), // production takes inbound SMS from a gateway's key only
    inbound(auth), // the baseline has one key
  );
}
