// Masking for logs: phone numbers keep their country prefix and last two digits, nothing in between; session ids
// and secret path segments become short tags.
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

/**
 * Routes whose path carries a secret (there the route's only authentication): each `:param` of these is
 * secret. A route that takes a secret in its path is declared here, and its URLs are logged with a tag in the
 * secret's place (a unit test walks the controllers for path parameters that look secret).
 */
// A device id is not a secret, but it identifies a person's phone: logs show a tag in its place.
export const SECRET_ROUTES = ['/webhooks/msg91/status/:token', '/onboard/bind/:device_id'];

const SECRET_ROUTE_PARTS = SECRET_ROUTES.map((r) => r.split('/').filter(Boolean));

const decoded = (segment: string) => {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
};

/**
 * The secret segments of a URL of a SECRET_ROUTES route replaced by their tags. Matched as loosely as a
 * request may be written (any case, percent-encoded, doubled or trailing slashes, more segments after),
 * whether or not the router took it: an unrouted request with a valid token is logged too.
 */
function tagSecretSegments(url: string): string {
  const cut = url.search(/[?#]/);
  const segments = (cut < 0 ? url : url.slice(0, cut)).split('/');
  const at = segments.flatMap((s, i) => (s ? [i] : [])); // where the non-empty segments are
  let changed = false;
  for (const parts of SECRET_ROUTE_PARTS) {
    if (at.length < parts.length) continue;
    const same = (part: string, k: number) =>
      part.startsWith(':') || decoded(segments[at[k]]).toLowerCase() === part.toLowerCase();
    if (!parts.every(same)) continue;
    parts.forEach((part, k) => {
      if (part.startsWith(':')) segments[at[k]] = idTag(decoded(segments[at[k]]));
    });
    changed = true;
  }
  return changed ? segments.join('/') + (cut < 0 ? '' : url.slice(cut)) : url;
}

/**
 * A request URL as logs may show it: secret path segments and session ids replaced by their tags, phone
 * numbers masked.
 */
export function maskUrl(url: string): string {
  return maskPhonesIn(tagSecretSegments(url)).replace(SESSION_ID, idTag);
}
