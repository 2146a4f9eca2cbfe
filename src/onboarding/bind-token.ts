// Device-binding tokens (the app-sent mode of reverse SMS): 40 Crockford base32 characters, the first two the
// bound number's bucket (so the token's Redis key shares the slot of that number's keys), the other 38 from the
// CSPRNG (190 bits). Digits and capital letters only: GSM-7 carries them unchanged, no gateway escapes them.
// Redis keeps a digest of the token, never the token itself; device ids are kept as a keyed digest too.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { NUMBER_BUCKETS } from '../redis/redis-keys';
import type { BoundToken } from './checks';

/** Crockford's base32: no I, L, O, U. */
export const TOKEN_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const TOKEN_LENGTH = 40;
const BUCKET_CHARS = 2; // 32 * 32 = 1024 = NUMBER_BUCKETS
const RANDOM_CHARS = TOKEN_LENGTH - BUCKET_CHARS;

if (TOKEN_ALPHABET.length ** BUCKET_CHARS !== NUMBER_BUCKETS) throw new Error('token bucket prefix size');

export function generateToken(bucket: number): string {
  let out = TOKEN_ALPHABET[bucket >> 5] + TOKEN_ALPHABET[bucket & 31];
  // 32 divides 256: every byte's low five bits are one uniform character.
  for (const byte of randomBytes(RANDOM_CHARS)) out += TOKEN_ALPHABET[byte & 31];
  return out;
}

/** A word of an SMS is a token when it has the token's length and alphabet (hashes are 32 characters at most). */
export function looksLikeToken(word: string): boolean {
  return word.length === TOKEN_LENGTH && /^[0-9A-Za-z]+$/.test(word);
}

/**
 * The token as issued: upper case, and Crockford's look-alikes read as the digits they stand for (O → 0,
 * I and L → 1). Null when it holds a character no token has (U).
 */
export function canonicalToken(word: string): string | null {
  const t = word.toUpperCase().replace(/O/g, '0').replace(/[IL]/g, '1');
  for (const c of t) if (!TOKEN_ALPHABET.includes(c)) return null;
  return t;
}

/** The bucket of the number the token is bound to, from its first two characters. */
export function tokenBucket(token: string): number {
  return TOKEN_ALPHABET.indexOf(token[0]) * 32 + TOKEN_ALPHABET.indexOf(token[1]);
}

/** What Redis knows a token by: 128 bits of its SHA-256 (a dump of Redis gives no usable token). */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 32);
}

/**
 * What the service knows a device by, in Redis keys and audit events: a keyed digest of its device_id, so that
 * neither shows the id, nor can a short id (an IMEI's 15 digits) be found from it by trying them all.
 */
export function deviceDigest(secret: string, deviceId: string): string {
  return createHmac('sha256', secret).update(`device:${deviceId}`).digest('hex').slice(0, 32);
}

/** A device id as a request may give it: 8 to 128 letters, digits and `. _ : -` (an IDFV, an Android id, a UUID). */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._:-]{8,128}$/;
/** A token's hash as read (HGETALL): null when it is gone (expired, or never issued). */
export function boundToken(reply: Record<string, string> | string[] | null | undefined): BoundToken | null {
  // HGETALL's reply: an object from ioredis, a flat field/value list where no reply transformer ran.
  const fields: Record<string, string> = Array.isArray(reply)
    ? Object.fromEntries(reply.flatMap((v, i) => (i % 2 ? [] : [[v, reply[i + 1]]])))
    : (reply ?? {});
  if (!fields.m) return null;
  const state = fields.s === 'used' || fields.s === 'burned' ? fields.s : 'live';
  return { mobile: fields.m, device: fields.d ?? '', state };
}
