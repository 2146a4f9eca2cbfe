// Masking for logs: phone numbers keep their country prefix and last two digits, nothing in between.

const PHONE_RUN = /\+?\d[\d\s().-]{5,}\d/g;

export function maskPhone(value: string): string {
  const digits = value.replace(/\D/g, '');
  if (digits.length < 6) return value;
  const plus = value.trim().startsWith('+') ? '+' : '';
  return `${plus}${digits.slice(0, 2)}${'*'.repeat(digits.length - 4)}${digits.slice(-2)}`;
}

/** Masks every run of seven or more digits (numbers in paths, query strings, free text). */
export function maskPhonesIn(text: string): string {
  return text.replace(PHONE_RUN, (run) => (run.replace(/\D/g, '').length >= 7 ? maskPhone(run) : run));
}
