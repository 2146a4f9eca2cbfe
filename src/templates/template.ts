import { AppException } from '../common/app.exception';

// Message templates: a name, the variables it takes, and its text per locale (with the ids India's DLT and
// WhatsApp's approved templates need). Rendering is pure: `{{name}}` placeholders filled from the variables.

export interface TemplateLocale {
  body: string;
  /** India DLT: the content-template id registered with the operator for this text. */
  dlt_template_id?: string;
  /** An approved WhatsApp template (Twilio Content API, `HX…`). */
  whatsapp_content_sid?: string;
}

export interface Template {
  name: string;
  variables: string[];
  /** In the order given: the first one is the default locale. */
  locales: { locale: string; text: TemplateLocale }[];
  created_at?: Date;
  updated_at?: Date;
}

export interface Rendered {
  template: string;
  locale: string;
  body: string;
  variables: Record<string, string>;
  dltTemplateId: string | null;
  whatsappContentSid: string | null;
}

/** Why a template cannot be used or stored as given: a 400 with this code. */
export class TemplateError extends AppException {
  constructor(
    code:
      | 'TEMPLATE_NOT_FOUND'
      | 'MISSING_VARIABLE'
      | 'UNKNOWN_VARIABLE'
      | 'INVALID_TEMPLATE'
      | 'WHATSAPP_TEMPLATE_REQUIRED'
      | 'DLT_TEMPLATE_REQUIRED',
    message: string,
  ) {
    super(400, code, message);
  }
}

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/**
 * Variable names no request can fill: the names every object inherits (`constructor`, `toString`,
 * `__proto__` …). The body's reader (class-transformer) drops such keys from every object it copies, and
 * Fastify refuses a body holding `__proto__`, so a template declaring one could never be used.
 */
const UNFILLABLE = new Set(Object.getOwnPropertyNames(Object.prototype));

/** The longest text any message may have (an e-mail's body): a rendering is stopped once past it. */
export const MAX_RENDERED = 100_000;

/** A locale tag in BCP 47's canonical form (pt-br → pt-BR), or null when it is not one. */
export function canonicalLocale(tag: string): string | null {
  try {
    return Intl.getCanonicalLocales(tag)[0] ?? null;
  } catch {
    return null;
  }
}

/** The variable names a text uses. */
export function placeholders(body: string): string[] {
  return [...new Set([...body.matchAll(PLACEHOLDER)].map((m) => m[1]))];
}

/** A template is consistent when every placeholder of every locale is a declared variable. */
export function checkTemplate(t: Template): void {
  if (!t.locales.length) throw new TemplateError('INVALID_TEMPLATE', 'a template needs at least one locale');
  const declared = new Set(t.variables);
  if (declared.size !== t.variables.length)
    throw new TemplateError('INVALID_TEMPLATE', 'variables lists a name twice');
  for (const name of t.variables)
    if (UNFILLABLE.has(name))
      throw new TemplateError(
        'INVALID_TEMPLATE',
        `${name} cannot be a variable's name: every object has it, so no request can give it`,
      );
  const locales = new Set(t.locales.map((l) => l.locale.toLowerCase()));
  if (locales.size !== t.locales.length)
    throw new TemplateError('INVALID_TEMPLATE', 'locales lists a locale twice (locales ignore case)');
  for (const { locale, text } of t.locales)
    for (const name of placeholders(text.body))
      if (!declared.has(name))
        throw new TemplateError(
          'UNKNOWN_VARIABLE',
          `locale ${locale} uses {{${name}}}, which is not among the template's variables`,
        );
}

/**
 * The locale used for a request: the one asked for, else its language (hi-IN → hi), else the template's
 * first locale (also when none is asked for).
 */
export function pickLocale(t: Template, wanted?: string): Template['locales'][number] {
  if (wanted) {
    const lower = (canonicalLocale(wanted) ?? wanted).toLowerCase();
    const exact = t.locales.find((l) => l.locale.toLowerCase() === lower);
    if (exact) return exact;
    const language = lower.split('-')[0];
    const same = t.locales.find((l) => l.locale.toLowerCase() === language);
    if (same) return same;
  }
  return t.locales[0];
}

/**
 * Fills the template; every declared variable must be given, and nothing else. Only the object's own
 * properties count (a variable named toString is not found on Object.prototype), and the variables are
 * returned in an object without a prototype.
 */
export function render(t: Template, given: Record<string, unknown> = {}, wanted?: string): Rendered {
  const declared = new Set(t.variables);
  for (const name of Object.keys(given))
    if (!declared.has(name))
      throw new TemplateError('UNKNOWN_VARIABLE', `template ${t.name} has no variable ${name}`);
  const variables = Object.create(null) as Record<string, string>;
  for (const name of t.variables) {
    const v = Object.hasOwn(given, name) ? given[name] : undefined;
    if (v === undefined || v === null || v === '')
      throw new TemplateError('MISSING_VARIABLE', `template ${t.name} needs the variable ${name}`);
    if (typeof v !== 'string' && typeof v !== 'number')
      throw new TemplateError('MISSING_VARIABLE', `variable ${name} must be a string or a number`);
    variables[name] = String(v);
  }
  const { locale, text } = pickLocale(t, wanted);
  // Stopped as soon as it is too long: a large value in a text that repeats its placeholder would otherwise
  // build a string of hundreds of megabytes before any length check.
  let length = text.body.length;
  const body = text.body.replace(PLACEHOLDER, (_, name: string) => {
    length += variables[name].length;
    if (length > MAX_RENDERED)
      throw new AppException(
        400,
        'BODY_TOO_LONG',
        `template ${t.name} filled is over ${MAX_RENDERED} characters`,
      );
    return variables[name];
  });
  return {
    template: t.name,
    locale,
    body,
    variables,
    dltTemplateId: text.dlt_template_id ?? null,
    whatsappContentSid: text.whatsapp_content_sid ?? null,
  };
}

/** Twilio's ContentVariables for an approved WhatsApp template: positional, in the variables' declared order. */
export function contentVariables(t: Pick<Template, 'variables'>, values: Record<string, string>): string {
  return JSON.stringify(Object.fromEntries(t.variables.map((name, i) => [String(i + 1), values[name]])));
}

/** The seeded `otp` template (migration 1764760000000), also used while the table cannot be read. */
export const OTP_TEMPLATE: Template = {
  name: 'otp',
  variables: ['code', 'minutes'],
  locales: [
    {
      locale: 'en',
      text: { body: 'Your verification code is {{code}}. It expires in {{minutes}} minutes.' },
    },
  ],
};
