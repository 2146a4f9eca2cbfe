// Onboarding hashes: unguessable (CSPRNG), typeable (no 0/O, 1/I/L look-alikes), sized by salt_length.
import { randomBytes } from 'node:crypto';

export const HASH_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
/** Bits of entropy per character: log2(31) ≈ 4.95. */
export const BITS_PER_CHAR = Math.log2(HASH_ALPHABET.length);
/** The shortest salt_length that still gives 40 bits. */
export const MIN_HASH_LENGTH = Math.ceil(40 / BITS_PER_CHAR);
export const MAX_HASH_LENGTH = 32;

// Rejection sampling keeps every character equally likely: bytes >= 248 (= 31 * 8) are thrown away.
const LIMIT = 256 - (256 % HASH_ALPHABET.length);

export function generateHash(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < LIMIT) out += HASH_ALPHABET[byte % HASH_ALPHABET.length];
      if (out.length === length) break;
    }
  }
  return out;
}

/** People type what they see: compare case-insensitively. */
export function canonicalHash(typed: string): string {
  return typed.trim().toUpperCase();
}
