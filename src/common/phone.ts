// Phone numbers: accepted in E.164 or national format (read with DEFAULT_COUNTRY), always stored as E.164.
import { CountryCode, parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { AppException } from './app.exception';

export interface ParsedPhone {
  e164: string;
  callingCode: string;
}

/** Returns the E.164 form, or undefined when the input is not a valid number. */
export function parsePhone(input: unknown, defaultCountry: string): ParsedPhone | undefined {
  if (typeof input !== 'string') return undefined;
  const text = input.trim();
  // Only ASCII digits, spaces, dashes, dots, parentheses and one leading plus; no letters, no other scripts.
  if (text.length < 4 || text.length > 32 || !/^\+?[\d\s().-]+$/.test(text)) return undefined;
  const parsed = parsePhoneNumberFromString(text, defaultCountry as CountryCode);
  if (!parsed || !parsed.isValid()) return undefined;
  return { e164: parsed.number, callingCode: parsed.countryCallingCode };
}

/** The E.164 form, or a 400 INVALID_MOBILE_NUMBER. */
export function normalizePhone(input: unknown, defaultCountry: string, field = 'mobile_number'): string {
  const parsed = parsePhone(input, defaultCountry);
  if (!parsed) {
    throw new AppException(
      400,
      'INVALID_MOBILE_NUMBER',
      `${field} is not a valid phone number (use E.164 such as +919876543210, or a national number)`,
    );
  }
  return parsed.e164;
}

/**
 * The calling code and number type of an E.164 number, from libphonenumber's full metadata: `mobile`,
 * `fixed_line_or_mobile` (where the numbering plan cannot tell), `fixed_line`, `premium_rate`, `toll_free`,
 * `shared_cost`, `voip`, `personal_number`, `pager`, `uan`, `voicemail`, `satellite`, or `unknown`.
 * `satellite`: the non-geographic codes of satellite and international networks (+870 Inmarsat, +881 global
 * mobile satellite, +882 international networks), priced like premium numbers and a favourite pumping target,
 * whatever type libphonenumber gives them (it calls +881 numbers `mobile`).
 */
export function phoneType(e164: string): { callingCode: string; type: string } {
  const parsed = parsePhoneNumberFromString(e164);
  const callingCode = parsed?.countryCallingCode ?? '';
  if (SATELLITE_CODES.has(callingCode)) return { callingCode, type: 'satellite' };
  return { callingCode, type: (parsed?.getType() ?? 'unknown').toLowerCase() };
}

const SATELLITE_CODES = new Set(['870', '881', '882']);
