/** Splits `<HEADER> <hash>`; any run of white space separates them. Null when the text has another shape. */
export function parseMessage(message: string): { header: string; hash: string } | null {
  const parts = message.trim().split(/\s+/);
  if (parts.length !== 2 || !parts[0] || !parts[1]) return null;
  return { header: parts[0], hash: parts[1] };
}
