// Masking for logs: phone numbers keep their country prefix and last two digits, nothing in between; session ids
// become the short tag the session logs use.
import { createHash } from 'node:crypto';

/**
 * A run of digits with the separators people write numbers with, plain or percent-encoded as they appear in a
 * logged URL (%2B for the plus; %20, %2D, %28, %29, %2E between digits): `98765%2043210` is one number.
 */
const PHONE_RUN = /(?:\+|%2B)?\d(?:[\d\s().-]|%(?:20|2D|28|29|2E)){5,}\d/gi;
const SESSION_ID = /\b[0-9a-f]{32}\b/g;

export function maskPhone(value: string): string {
  const digits = value.replace(/\D/g, '');
  if (digits.length < 6) return value;
  const plus = value.trim().startsWith('+') ? '+' : '';
  return `${plus}${digits.slice(0, 2)}${'*'.repeat(digits.length - 4)}${digits.slice(-2)}`;
}

/** Masks every run of seven or more digits (numbers in paths, query strings, free text). */
export function maskPhonesIn(text: string): string {
  return text.replace(PHONE_RUN, (run) => {
    const plain = run.replace(/%2B/gi, '+').replace(/%[0-9A-F]{2}/gi, ' ');
    return plain.replace(/\D/g, '').length >= 7 ? maskPhone(plain) : run;
  });
}

/** A short, stable stand-in for an identifier that is not to be logged (a session id): its SHA-256, cut short. */
export const idTag = (id: string) => createHash('sha256').update(id).digest('hex').slice(0, 12);

/** A request URL as logs may show it: phone numbers masked, session ids replaced by their tags. */
export function maskUrl(url: string): string {
  return maskPhonesIn(url).replace(SESSION_ID, idTag);
}
