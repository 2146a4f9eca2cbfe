import {
  canonicalLocale,
  checkTemplate,
  contentVariables,
  pickLocale,
  placeholders,
  render,
  Template,
  TemplateError,
} from './template';

const t: Template = {
  name: 'shipping',
  variables: ['day', 'name'],
  locales: [
    { locale: 'en', text: { body: 'Hi {{name}}, it arrives {{ day }}' } },
    { locale: 'hi', text: { body: '{{name}}, {{day}} पहुंचेगा', dlt_template_id: '1107' } },
    { locale: 'pt-BR', text: { body: 'Olá {{name}}', whatsapp_content_sid: 'HX1' } },
  ],
};
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return (err as TemplateError).code;
  }
  return 'none';
};

describe('templates', () => {
  it('fills every placeholder, spaces inside the braces allowed', () => {
    expect(render(t, { day: 'today', name: 'Asha' }).body).toBe('Hi Asha, it arrives today');
    expect(render(t, { day: 3, name: 'A' }, 'hi')).toMatchObject({
      locale: 'hi',
      body: 'A, 3 पहुंचेगा',
      dltTemplateId: '1107',
    });
  });

  it('picks the asked locale, then its language, then the first', () => {
    expect(pickLocale(t, 'PT-br').locale).toBe('pt-BR');
    expect(pickLocale(t, 'hi-IN').locale).toBe('hi');
    expect(pickLocale(t, 'fr').locale).toBe('en');
    expect(pickLocale(t).locale).toBe('en');
  });

  it('refuses a missing, empty, non-text or unknown variable', () => {
    expect(codeOf(() => render(t, { day: 'x' }))).toBe('MISSING_VARIABLE');
    expect(codeOf(() => render(t, { day: 'x', name: '' }))).toBe('MISSING_VARIABLE');
    expect(codeOf(() => render(t, { day: 'x', name: {} }))).toBe('MISSING_VARIABLE');
    expect(codeOf(() => render(t, { day: 'x', name: 'y', other: 'z' }))).toBe('UNKNOWN_VARIABLE');
  });

  it('checks that every placeholder is declared, once', () => {
    expect(placeholders('{{a}} {{ b }} {{a}} {c}')).toEqual(['a', 'b']);
    expect(codeOf(() => checkTemplate(t))).toBe('none');
    expect(codeOf(() => checkTemplate({ ...t, variables: ['day'] }))).toBe('UNKNOWN_VARIABLE');
    expect(codeOf(() => checkTemplate({ ...t, variables: ['day', 'name', 'day'] }))).toBe('INVALID_TEMPLATE');
    expect(codeOf(() => checkTemplate({ ...t, locales: [] }))).toBe('INVALID_TEMPLATE');
  });

  it('reads only the own properties of the variables given (attack 18 F13)', () => {
    const proto: Template = {
      name: 'p',
      variables: ['toString', '__proto__'],
      locales: [{ locale: 'en', text: { body: '{{toString}}/{{__proto__}}' } }],
    };
    // JSON.parse makes `__proto__` an own property, as a request body would hold it.
    const given = JSON.parse('{"toString":"a","__proto__":"b"}') as Record<string, unknown>;
    expect(render(proto, given).body).toBe('a/b');
    expect(() => render(proto, JSON.parse('{"__proto__":"b"}'))).toThrow(
      'template p needs the variable toString',
    );
  });

  it('refuses variables no request can carry, and a locale twice in any case', () => {
    expect(codeOf(() => checkTemplate({ ...t, variables: ['day', 'name', 'constructor'] }))).toBe(
      'INVALID_TEMPLATE',
    );
    expect(codeOf(() => checkTemplate({ ...t, variables: ['day', 'name', '__proto__'] }))).toBe(
      'INVALID_TEMPLATE',
    );
    expect(codeOf(() => checkTemplate({ ...t, variables: ['day', 'name', 'toString'] }))).toBe(
      'INVALID_TEMPLATE',
    );
    const twice = { ...t, locales: [...t.locales, { locale: 'PT-br', text: { body: 'x' } }] };
    expect(codeOf(() => checkTemplate(twice))).toBe('INVALID_TEMPLATE');
  });

  it('stops a rendering that grows past the longest message', () => {
    const repeat: Template = {
      name: 'r',
      variables: ['a'],
      locales: [{ locale: 'en', text: { body: '{{a}}'.repeat(300) } }],
    };
    expect(codeOf(() => render(repeat, { a: 'x'.repeat(1000) }))).toBe('BODY_TOO_LONG');
    expect(render(repeat, { a: 'x'.repeat(100) }).body).toHaveLength(30_000);
  });

  it('canonicalises locale tags, and reads an alias as its canonical tag', () => {
    expect(canonicalLocale('pt-br')).toBe('pt-BR');
    expect(canonicalLocale('zh-hant-tw')).toBe('zh-Hant-TW');
    expect(canonicalLocale('en-a1')).toBeNull();
    const he: Template = { ...t, locales: [...t.locales, { locale: 'he', text: { body: 'x' } }] };
    expect(pickLocale(he, 'iw').locale).toBe('he');
  });

  it('gives Twilio positional ContentVariables in the declared order', () => {
    expect(JSON.parse(contentVariables(t, { name: 'A', day: 'today' }))).toEqual({ 1: 'today', 2: 'A' });
  });
});
