// Message accept: an SMS stored and queued (no worker runs yet, so the jobs stay queued).
import { auth, fresh } from '../lib/context';
import type { Req } from '../lib/load';
import type { SideBySide } from '../lib/side-by-side';
import type { Stack } from '../lib/stack';

/** A new SMS to a new number; the end-to-end scenario sends the same. */
export const messageRequest = (): Req => ({
  method: 'POST',
  path: '/api/v1/messages/send',
  headers: auth,
  body: { to: fresh(), type: 'sms', body: 'Your parcel is on its way.' },
});

export async function messageAccept(sbs: SideBySide, stack: Stack) {
  const row = await sbs.compare('message accept', messageRequest, messageRequest);
  if (row) row.note = `${await stack.prefixed.llen('q:{sms}:sms:wait')} jobs queued (no worker running)`;
}
