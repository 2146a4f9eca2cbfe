// Onboarding register (Redis only, one script): one number asked for again and again, and a new number for
// every request.
import { auth, fresh } from '../lib/context';
import type { Req } from '../lib/load';
import type { SideBySide } from '../lib/side-by-side';

export const registerRequest = (mobile: string): Req => ({
  path: `/onboard/register/${mobile}`,
  headers: auth,
});

export async function register(sbs: SideBySide) {
  const repeated = fresh();
  await sbs.compare(
    'register, repeated number',
    () => registerRequest(repeated),
    () => registerRequest(repeated),
  );
  await sbs.compare(
    'register, fresh numbers',
    () => registerRequest(fresh()),
    () => registerRequest(fresh()),
  );
}
