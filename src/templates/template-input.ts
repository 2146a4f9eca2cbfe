// What an admin sends as a template, read strictly: the shapes class-validator cannot say for a map of locales.
import { hasUnstorableText } from '../common/validators/storable-text.validator';
import type { PutTemplateDto } from './dto/templates.dto';
import { canonicalLocale, Template, TemplateError, TemplateLocale } from './template';

export const TEMPLATE_NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
const LOCALE = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$/;
const MAX_BODY = 1600;
const MAX_LOCALES = 50;
const FIELDS = new Set(['body', 'dlt_template_id', 'whatsapp_content_sid']);

const bad = (message: string) => new TemplateError('INVALID_TEMPLATE', message);

export function templateFromInput(name: string, dto: PutTemplateDto): Template {
  // The name was read by TemplateNamePipe.
  const entries = Object.entries(dto.locales);
  if (!entries.length || entries.length > MAX_LOCALES) throw bad(`locales holds 1 to ${MAX_LOCALES} locales`);
  const locales = entries.map(([given, raw]) => {
    // Stored as BCP 47 writes it, so that pt-br and pt-BR are one locale (checkTemplate refuses it twice).
    const locale = LOCALE.test(given) ? canonicalLocale(given) : null;
    if (!locale) throw bad(`${given.slice(0, 20)} is not a locale such as en, hi or pt-BR`);
    if (!raw || typeof raw !== 'object' || Array.isArray(raw))
      throw bad(`locales.${locale} must be an object`);
    for (const key of Object.keys(raw))
      if (!FIELDS.has(key)) throw bad(`locales.${locale}.${key.slice(0, 40)} is not a field of a locale`);
    const { body, dlt_template_id, whatsapp_content_sid } = raw as unknown as Record<string, unknown>;
    if (typeof body !== 'string' || !body.trim() || body.length > MAX_BODY)
      throw bad(`locales.${locale}.body must be a text of 1 to ${MAX_BODY} characters`);
    if (hasUnstorableText(body)) throw bad(`locales.${locale}.body holds characters that cannot be stored`);
    const text: TemplateLocale = { body };
    if (dlt_template_id !== undefined) {
      if (typeof dlt_template_id !== 'string' || !/^\d{1,30}$/.test(dlt_template_id))
        throw bad(`locales.${locale}.dlt_template_id must be the digits of a DLT content-template id`);
      text.dlt_template_id = dlt_template_id;
    }
    if (whatsapp_content_sid !== undefined) {
      if (typeof whatsapp_content_sid !== 'string' || !/^HX[0-9a-fA-F]{32}$/.test(whatsapp_content_sid))
        throw bad(`locales.${locale}.whatsapp_content_sid must be HX followed by 32 hex digits`);
      text.whatsapp_content_sid = whatsapp_content_sid;
    }
    return { locale, text };
  });
  return { name, variables: dto.variables, locales };
}

export function presentTemplate(t: Template) {
  return {
    name: t.name,
    variables: t.variables,
    locales: Object.fromEntries(t.locales.map((l) => [l.locale, l.text])),
    created_at: new Date(t.created_at ?? Date.now()).toISOString(),
    updated_at: new Date(t.updated_at ?? Date.now()).toISOString(),
  };
}
