// Twilio's request signature: HMAC-SHA1 with the auth token over the full URL followed by every POST
// parameter, sorted by name, name and value appended; base64. https://www.twilio.com/docs/usage/security
import { createHmac, timingSafeEqual } from 'node:crypto';

export function twilioSignature(
  authToken: string,
  url: string,
  params: Record<string, string | string[]>,
): string {
  let data = url;
  for (const name of Object.keys(params).sort()) {
    const value = params[name];
    for (const v of Array.isArray(value) ? [...value].sort() : [value]) data += name + v;
  }
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/** Twilio may sign the URL with or without the default port: accept either form. */
export function urlVariants(url: string): string[] {
  // Parsed by hand: WHATWG URL drops a default port, and the signature covers the URL exactly as written.
  const m = /^(https?):\/\/([^/:?#]+)(?::(\d+))?(.*)$/i.exec(url);
  if (!m) return [url];
  const [, scheme, host, port, rest] = m;
  const defaultPort = scheme.toLowerCase() === 'https' ? '443' : '80';
  const variants = new Set([url]);
  if (!port) variants.add(`${scheme}://${host}:${defaultPort}${rest}`);
  else if (port === defaultPort) variants.add(`${scheme}://${host}${rest}`);
  return [...variants];
}

const isFormValue = (v: unknown) =>
  typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));

/**
 * Constant-time check of X-Twilio-Signature against every accepted form of the URL. Twilio signs form fields,
 * strings only: a body of any other shape (JSON with numbers, objects, nulls) is not Twilio's, and building the
 * signed text from it could throw (an object without a usable toString) and answer 500 instead of 403.
 */
export function validTwilioSignature(
  authToken: string,
  signature: string | undefined,
  url: string,
  params: Record<string, string | string[]>,
): boolean {
  if (!signature) return false;
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return false;
  if (!Object.values(params).every(isFormValue)) return false;
  const given = Buffer.from(signature);
  let ok = false;
  for (const variant of urlVariants(url)) {
    const expected = Buffer.from(twilioSignature(authToken, variant, params));
    ok = (expected.length === given.length && timingSafeEqual(expected, given)) || ok;
  }
  return ok;
}
