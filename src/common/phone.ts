// Phone numbers, the one owner of "what is a phone number": accepted in E.164 or national format (read with
// DEFAULT_COUNTRY), always E.164 past the HTTP boundary. Path parameters go through `@MobileParam()`, body
// fields through `@IsMobileNumber()`; services take E.164 strings and never parse again.
import { applyDecorators, createParamDecorator, ExecutionContext, PipeTransform } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { registerDecorator, ValidationArguments } from 'class-validator';
import { CountryCode, parsePhoneNumberFromString, PhoneNumber } from 'libphonenumber-js/max';
import { AppException } from './app.exception';

export interface ParsedPhone {
  e164: string;
  callingCode: string;
}

/**
 * The country national numbers are read in. Set once from DEFAULT_COUNTRY when the configuration is built (the
 * validators of DTOs are static, so they cannot be handed the configuration).
 */
let defaultCountry = 'IN';
export function setDefaultCountry(country: string): void {
  defaultCountry = country;
}

/**
 * Recent readings, because one request reads its number several times (the body's transform, its validation,
 * the number type) and libphonenumber's full metadata makes each reading cost tens of microseconds. Bounded:
 * emptied when full.
 */
const readings = new Map<string, ParsedPhone | null>();
/** libphonenumber's own reading of recent valid numbers, by E.164, for their type. */
const numbers = new Map<string, PhoneNumber>();
const types = new Map<string, { callingCode: string; type: string }>();
const MAX_REMEMBERED = 10_000;
function remember<V>(map: Map<string, V>, key: string, value: V): V {
  if (map.size >= MAX_REMEMBERED) map.clear();
  map.set(key, value);
  return value;
}

/** Returns the E.164 form, or undefined when the input is not a valid number. */
export function parsePhone(input: unknown, country = defaultCountry): ParsedPhone | undefined {
  if (typeof input !== 'string') return undefined;
  const text = input.trim();
  // Only ASCII digits, spaces, dashes, dots, parentheses and one leading plus; no letters, no other scripts.
  if (text.length < 4 || text.length > 32 || !/^\+?[\d\s().-]+$/.test(text)) return undefined;
  const key = text.startsWith('+') ? text : `${country} ${text}`; // E.164 reads the same in every country
  const known = readings.get(key);
  if (known !== undefined) return known ?? undefined;
  const parsed = parsePhoneNumberFromString(text, country as CountryCode);
  if (!parsed || !parsed.isValid()) return remember(readings, key, null) ?? undefined;
  const result = { e164: parsed.number, callingCode: parsed.countryCallingCode };
  remember(readings, result.e164, result); // the validation that follows reads the E.164 form
  remember(numbers, result.e164, parsed); // and the number type may be asked for next
  return remember<ParsedPhone | null>(readings, key, result) ?? undefined;
}

export const invalidNumber = (field: string) =>
  new AppException(
    400,
    'INVALID_MOBILE_NUMBER',
    `${field} is not a valid phone number (use E.164 such as +919876543210, or a national number)`,
  );

/** The E.164 form, or a 400 INVALID_MOBILE_NUMBER. */
export function normalizePhone(input: unknown, field = 'mobile_number'): string {
  const parsed = parsePhone(input);
  if (!parsed) throw invalidNumber(field);
  return parsed.e164;
}

/** The pipe of a phone number in the path: E.164, or 400 INVALID_MOBILE_NUMBER. */
export class MobileNumberPipe implements PipeTransform<unknown, string> {
  constructor(private readonly field = 'mobile_number') {}

  transform(value: unknown): string {
    return normalizePhone(value, this.field);
  }
}

/** The phone number path parameter `name` of the request, as E.164, or a 400 INVALID_MOBILE_NUMBER. */
export const readMobileParam = (name: string, ctx: ExecutionContext): string =>
  normalizePhone(ctx.switchToHttp().getRequest<{ params: Record<string, string> }>().params[name], name);

const mobileParam = createParamDecorator(readMobileParam);

/**
 * A phone number path parameter (`:mobile_number` unless named), as E.164. Read and checked as Nest takes it
 * from the request (a parameter decorator), not by a pipe: Nest makes several promises per pipe and request,
 * and register, a hot route, has nothing else to check.
 */
export const MobileParam = (name = 'mobile_number') => mobileParam(name);

/** The OpenAPI description of a `@MobileParam()`, on its route. */
export const ApiMobileParam = (name = 'mobile_number') =>
  applyDecorators(
    ApiParam({
      name,
      description: 'E.164 (+919876543210) or national format (read with DEFAULT_COUNTRY)',
      schema: { type: 'string', maxLength: 32, example: '+919876543210' },
    }),
  );

/** class-validator's name for the check below; the validation pipe answers it as INVALID_MOBILE_NUMBER. */
export const IS_MOBILE_NUMBER = 'isMobileNumber';

/**
 * A phone number body field: read in E.164 or national format and handed on as E.164; anything else fails
 * validation (400 INVALID_MOBILE_NUMBER). With `when`, only objects for which it holds are read as numbers
 * (a message's `to` is an address for e-mail).
 */
export function IsMobileNumber(when?: (o: Record<string, unknown>) => boolean): PropertyDecorator {
  const transform = Transform(({ value, obj }) => {
    if (when && !when(obj as Record<string, unknown>)) return value;
    return parsePhone(value)?.e164 ?? value;
  });
  return (target, property) => {
    transform(target, property);
    registerDecorator({
      name: IS_MOBILE_NUMBER,
      target: target.constructor,
      propertyName: property as string,
      validator: {
        validate: (value: unknown, args: ValidationArguments) =>
          (when !== undefined && !when(args.object as Record<string, unknown>)) ||
          (typeof value === 'string' && value.startsWith('+') && parsePhone(value)?.e164 === value),
        defaultMessage: (args: ValidationArguments) =>
          `${args.property} is not a valid phone number (use E.164 such as +919876543210, or a national number)`,
      },
    });
  };
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
  const known = types.get(e164);
  if (known) return known;
  const parsed = numbers.get(e164) ?? parsePhoneNumberFromString(e164);
  const callingCode = parsed?.countryCallingCode ?? '';
  if (SATELLITE_CODES.has(callingCode)) return remember(types, e164, { callingCode, type: 'satellite' });
  return remember(types, e164, { callingCode, type: (parsed?.getType() ?? 'unknown').toLowerCase() });
}

const SATELLITE_CODES = new Set(['870', '881', '882']);

const regions = new Map<string, string>();
/**
 * The ISO region (IN, GB …) of an E.164 number, `ZZ` (CLDR's unknown region) for the non-geographic codes
 * (+800, +881 …): the country the SMS-pumping rules count it in.
 */
export function phoneRegion(e164: string): string {
  const known = regions.get(e164);
  if (known) return known;
  const parsed = numbers.get(e164) ?? parsePhoneNumberFromString(e164);
  return remember(regions, e164, parsed?.country ?? 'ZZ');
}
