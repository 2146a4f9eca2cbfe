import { looksLikeToken } from '../bind-token';

/** Splits `<HEADER> <hash>`; any run of white space separates them. Null when the text has another shape. */
export function parseMessage(message: string): { header: string; hash: string } | null {
  const parts = message.trim().split(/\s+/);
  if (parts.length !== 2 || !parts[0] || !parts[1]) return null;
  return { header: parts[0], hash: parts[1] };
}

/**
 * A device-binding SMS: the token alone, or `<HEADER> <token>`. Null when the text carries no token (then it is
 * the typed-hash flow's to judge).
 */
export function parseTokenMessage(message: string): { header: string | null; token: string } | null {
  const parts = message.trim().split(/\s+/);
  const token = parts[parts.length - 1];
  if (parts.length > 2 || !token || !looksLikeToken(token)) return null;
  return { header: parts.length === 2 ? parts[0] : null, token };
}
