// OTP send: a code for a new number each time (the send is queued; no provider is called).
import { auth, fresh } from '../lib/context';
import type { Req } from '../lib/load';
import type { SideBySide } from '../lib/side-by-side';

export async function otpSend(sbs: SideBySide) {
  const send = (): Req => ({
    method: 'POST',
    path: '/otp/send',
    headers: auth,
    body: { mobile_number: fresh(), channel: 'sms' },
  });
  await sbs.compare('OTP send', send, send);
}
