import { createHmac, createSecretKey, KeyObject, randomInt, timingSafeEqual } from 'node:crypto';

/** A 6-digit code from the CSPRNG. */
export const newCode = (): string => String(randomInt(0, 1_000_000)).padStart(6, '0');

/** The secret as a key object, made once (a string secret is imported into a new key on every HMAC). */
const keys = new Map<string, KeyObject>();
const keyOf = (secret: string): KeyObject => {
  let key = keys.get(secret);
  if (!key) keys.set(secret, (key = createSecretKey(Buffer.from(secret))));
  return key;
};

/** Codes are stored only as HMAC-SHA256 under OTP_SECRET, bound to the number. */
export const hashCode = (secret: string, mobile: string, code: string): string =>
  createHmac('sha256', keyOf(secret)).update(`${mobile}:${code}`).digest('hex');

export const sameHash = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};
