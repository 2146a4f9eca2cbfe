// fast-check arbitraries for malformed requests, built from an OpenAPI operation: its path parameters, query
// parameters, headers and JSON body, each either well-formed (so the request gets past the earlier checks and
// the bad part reaches deeper code) or hostile: wrong types, missing and extra fields, huge strings, unicode and
// RTL digits, lone surrogates, NUL bytes, negative and enormous numbers, __proto__ and constructor keys, deep
// nesting, invalid JSON, wrong content types, bodies over the limit.
import fc from 'fast-check';
import type { Operation, SchemaObject } from '../helpers/api-routes';
import { fillPath } from '../helpers/api-routes';
import { TEST_ADMIN_KEY, TEST_CLIENT_KEY } from '../helpers/test-env';

export interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** What kind of body was sent, for the report. */
  kind: string;
}

/** JSON text written as is: numbers JSON.stringify cannot make (1e999), escapes, nesting depth. */
export class Raw {
  constructor(readonly text: string) {}
}

/** A JSON object as its entries, so it can hold __proto__ as an own key, and duplicate keys. */
export class Obj {
  constructor(readonly entries: [string, J][]) {}
}

export type J = null | boolean | number | string | Raw | Obj | J[];

export function jsonText(v: J): string {
  if (v instanceof Raw) return v.text;
  if (v instanceof Obj)
    return `{${v.entries.map(([k, x]) => `${JSON.stringify(k)}:${jsonText(x)}`).join(',')}}`;
  if (Array.isArray(v)) return `[${v.map(jsonText).join(',')}]`;
  return JSON.stringify(v) ?? 'null';
}

/** The arbitrary's value `percent` % of the time, else undefined (fc.option's freq counts the other way). */
export const sometimes = <T>(arb: fc.Arbitrary<T>, percent: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: 100 - percent }, { arbitrary: arb, weight: percent });

// --- strings ---

const ARABIC_INDIC = '٠١٢٣٤٥٦٧٨٩';
const EXTENDED_ARABIC_INDIC = '۰۱۲۳۴۵۶۷۸۹';
const FULLWIDTH = '０１２３４５６７８９';
const DEVANAGARI = '०१२३४५६७८९';

/** Numbers written in other scripts' digits, with and without a plus and bidi marks (RLM, RLO). */
export const foreignDigits = fc
  .tuple(
    fc.constantFrom('', '+', '+٩١', '\u200f', '\u202e+', '+\u200e'),
    fc.string({
      unit: fc.constantFrom(
        ...(ARABIC_INDIC + EXTENDED_ARABIC_INDIC + FULLWIDTH + DEVANAGARI + '0123456789'),
      ),
      minLength: 1,
      maxLength: 14,
    }),
  )
  .map(([p, d]) => p + d);

export const SPECIAL_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\ufeff+919876543210',
  '\u202e+919876543210',
  '+91 98765 43210',
  '٩٨٧٦٥٤٣٢١٠',
  '+٩١٩٨٧٦٥٤٣٢١٠',
  '９８７６５４３２１０',
  '+91987654321O',
  '+0000000000',
  '+',
  '-1',
  '0',
  '1e309',
  'NaN',
  'Infinity',
  'null',
  'undefined',
  'true',
  '[]',
  '{}',
  '__proto__',
  'constructor',
  "'; DROP TABLE messages;--",
  '" OR 1=1 --',
  "redis.call('FLUSHALL')",
  ']]',
  '\\0',
  '%00',
  '%2e%2e%2f',
  '../../../../etc/passwd',
  '${jndi:ldap://example.invalid/a}',
  '<script>alert(1)</script>',
  '{{7*7}}',
  'ONBOARD ' + 'A'.repeat(40),
  'e'.repeat(33),
];

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

const hugeString = fc
  .tuple(fc.constantFrom('x', '٣', '😀', '\u0000', '%', '"'), fc.constantFrom(2_000, 40_000, 200_000))
  .map(([c, n]) => c.repeat(n));

export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.string({ maxLength: 40 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 3 },
  {
    arbitrary: fc.string({
      unit: fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), loneSurrogate),
      maxLength: 12,
    }),
    weight: 1,
  },
  { arbitrary: foreignDigits, weight: 3 },
  { arbitrary: fc.constantFrom(...SPECIAL_STRINGS), weight: 5 },
  { arbitrary: hugeString, weight: 1 },
);

// --- numbers ---

export const nastyNumber: fc.Arbitrary<J> = fc.oneof(
  fc.integer(),
  fc.double(), // NaN and ±Infinity become null in JSON
  fc.constantFrom(-1, 0, -0, 0.5, 1e21, -1e21, Number.MAX_SAFE_INTEGER + 2, 2 ** 31, -(2 ** 31) - 1, 2 ** 64),
  fc
    .constantFrom(
      '1e999',
      '-1e999',
      '123456789012345678901234567890',
      '-0.0',
      '1E400',
      '0.00000000000000000000000000000000000001',
    )
    .map((t) => new Raw(t)),
);

// --- JSON values ---

const keyArb = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      '__proto__',
      'constructor',
      'prototype',
      'toString',
      'hasOwnProperty',
      '$where',
      '',
      ' ',
      'a.b',
      'a[0]',
      '\u0000',
    ),
    weight: 2,
  },
  { arbitrary: fc.string({ maxLength: 10 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 10 }), weight: 1 },
);

const deep = fc
  .tuple(fc.constantFrom('array', 'object'), fc.integer({ min: 50, max: 60_000 }))
  .map(([shape, n]) =>
    shape === 'array'
      ? new Raw('['.repeat(n) + ']'.repeat(n))
      : new Raw('{"a":'.repeat(n) + '1' + '}'.repeat(n)),
  );

const rawEscapes = fc
  .constantFrom('"\\ud800"', '"\\u0000"', '"\\udfff\\ud800"', '"\\uFFFF"', '"a\\u0000\\u001f"')
  .map((t) => new Raw(t));

export const nastyJson: fc.Arbitrary<J> = fc.letrec<{ value: J; array: J[]; object: Obj }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { arbitrary: nastyString, weight: 4 },
    { arbitrary: nastyNumber, weight: 3 },
    { arbitrary: fc.boolean(), weight: 1 },
    { arbitrary: fc.constant(null), weight: 1 },
    { arbitrary: rawEscapes, weight: 1 },
    { arbitrary: tie('array'), weight: 1 },
    { arbitrary: tie('object'), weight: 1 },
    { arbitrary: deep, weight: 1 },
  ),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.array(fc.tuple(keyArb, tie('value')), { maxLength: 4 }).map((e) => new Obj(e)),
})).value;

// --- well-formed values, so the hostile part of a request reaches the code behind the validation ---

/** An Indian mobile in E.164, the default country's, most of which are valid numbers. */
export const mobileArb = fc
  .tuple(
    fc.constantFrom('6', '7', '8', '9'),
    fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 9, maxLength: 9 }),
  )
  .map(([a, b]) => `+91${a}${b}`);

const hex = (n: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });

/** Text that must never reach a store unchecked: NUL, lone surrogates, SQL and Lua, bidi overrides. */
export const POISON = [
  '\u0000',
  '\ud800',
  '\udfff',
  '\u202e',
  "'; DROP TABLE messages;--",
  "redis.call('FLUSHALL')",
  ']]',
  '\\0',
  '%00',
  '"',
  '\\',
];

/** A well-formed value with poison spliced in somewhere: it passes the checks that only look at the shape. */
export const withPoison = (valid: fc.Arbitrary<string>) =>
  fc
    .tuple(valid, fc.constantFrom(...POISON), fc.double({ min: 0, max: 1, noNaN: true }))
    .map(([v, p, at]) => {
      const i = Math.floor(v.length * at);
      return v.slice(0, i) + p + v.slice(i);
    });

/** Cursors shaped like the API's own (base64url of "<timestamp>|<uuid>"), with timestamps and ids that are not. */
const cursorLike: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom(
      new Date().toISOString(),
      '1',
      '0',
      '2020',
      '-1',
      '99999-01-01',
      '+275760-09-13T00:00:00.000Z',
      '2020-13-45T00:00:00Z',
      'Tue Nov 22 2026',
      '2026-11-22T04:00:00.000Z\u0000',
    ),
    fc.oneof(
      fc.uuid(),
      fc.constantFrom('-'.repeat(36), 'g'.repeat(36), '00000000-0000-0000-0000-000000000000', ''),
    ),
  )
  .map(([at, id]) => Buffer.from(`${at}|${id}`).toString('base64url'));

/** A plausible value for a field or parameter, by its name first and its schema second. */
export function validValue(
  name: string,
  schema: SchemaObject | undefined,
  op: Pick<Operation, 'path'>,
): fc.Arbitrary<J> {
  switch (name) {
    case 'mobile_number':
    case 'from':
      return mobileArb;
    case 'to':
      return fc.oneof(mobileArb, fc.constant('fuzz@example.com'));
    case 'otp':
      return fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 6, maxLength: 6 });
    case 'user_id':
      return hex(8).map((h) => `user-${h}`);
    case 'id':
    case 'except':
      return op.path.startsWith('/api/v1/messages') ? fc.uuid() : hex(32);
    case 'context':
    case 'metadata':
      return fc.constant(new Obj([['device', 'ios']]));
    case 'media_urls':
      return fc.constant(['https://example.com/a.png']);
    case 'send_at':
      return fc.constant(new Date(Date.now() + 3_600_000).toISOString());
    case 'received_at':
      return fc.constant(new Date().toISOString());
    case 'status_callback':
      return fc.constant('http://127.0.0.1:9/callback');
    case 'ip':
      return fc.ipV4();
    case 'permitted_headers':
      return fc.constant(['ONBOARD']);
    case 'message':
      return fc.constant('ONBOARD ABCDEFGHJK');
    case 'cursor':
      return cursorLike;
  }
  if (schema?.enum?.length) return fc.constantFrom(...(schema.enum as J[]));
  if (schema?.type === 'integer' || schema?.type === 'number')
    return fc.integer({ min: schema.minimum ?? 1, max: Math.min(schema.maximum ?? 100, 10_000) });
  if (schema?.type === 'boolean') return fc.boolean();
  if (schema?.type === 'array') return fc.constant([]);
  if (schema?.type === 'object') return fc.constant(new Obj([]));
  return fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 20 });
}

// --- bodies ---

const JSON_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json; charset=latin1',
  'application/json;;;',
];
const OTHER_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=fuzz',
  'application/xml',
  'application/octet-stream',
  'application/vnd.api+json',
  'application/ json',
  'json',
  '',
];

/** A hostile value for one field: wrong types and shapes, or its well-formed value with poison spliced in. */
function badValue(
  name: string,
  schema: SchemaObject | undefined,
  op: Pick<Operation, 'path'>,
): fc.Arbitrary<J> {
  const valid = validValue(name, schema, op);
  return fc.oneof(
    { arbitrary: nastyJson, weight: 3 },
    { arbitrary: fc.constantFrom(...POISON), weight: 2 },
    {
      arbitrary: withPoison(valid.map((v) => (typeof v === 'string' ? v : jsonText(v)))),
      weight: 2,
    },
    // Poison inside a well-formed object or list (metadata, context, media_urls)
    {
      arbitrary: fc.tuple(fc.constantFrom(...POISON), fc.constantFrom(...POISON)).map(([k, v]) =>
        schema?.type === 'array'
          ? [v]
          : new Obj([
              [k, v],
              ['ok', v],
            ]),
      ),
      weight: 1,
    },
  );
}

/** Messages are only well-formed when `to` and `media_urls` agree with `type`. */
function coherent(fields: Record<string, J>): Record<string, J> {
  if (typeof fields.type !== 'string' || !('to' in fields)) return fields;
  const out = { ...fields };
  if (out.type === 'email') out.to = 'fuzz@example.com';
  else if (typeof out.to !== 'string' || !out.to.startsWith('+91')) out.to = '+919876543210';
  if (out.type === 'mms') out.media_urls = ['https://example.com/a.png'];
  else delete out.media_urls;
  if (out.type !== 'email') delete out.from;
  return out;
}

/**
 * The object a schema describes, three ways: well-formed (to get real work done), well-formed but for one
 * hostile field (so the bad value reaches the code behind validation), or every field at random (present or
 * missing, well-formed or not) with extra fields.
 */
function schemaObject(schema: SchemaObject, op: Pick<Operation, 'path'>): fc.Arbitrary<Obj> {
  const props = Object.entries(schema.properties ?? {});
  const required = new Set(schema.required ?? []);
  const validRecord = fc
    .tuple(
      ...props.map(([name, s]) =>
        required.has(name)
          ? validValue(name, s, op)
          : fc.option(validValue(name, s, op), { freq: 2, nil: undefined }),
      ),
    )
    .map((values) => {
      const fields: Record<string, J> = {};
      values.forEach((v, i) => v !== undefined && (fields[props[i][0]] = v));
      return coherent(fields);
    });
  const toObj = (fields: Record<string, J>) => new Obj(Object.entries(fields));
  if (!props.length)
    return fc.oneof(
      fc.constant(new Obj([])),
      fc.array(fc.tuple(keyArb, nastyJson), { maxLength: 2 }).map((e) => new Obj(e)),
    );

  const oneBad = fc
    .tuple(validRecord, fc.nat(props.length - 1))
    .chain(([fields, i]) =>
      badValue(props[i][0], props[i][1], op).map((bad) => toObj({ ...fields, [props[i][0]]: bad })),
    );
  const chaos = fc
    .tuple(
      fc.tuple(
        ...props.map(([name, s]) =>
          fc.option(
            fc.oneof({ arbitrary: validValue(name, s, op), weight: 3 }, { arbitrary: nastyJson, weight: 2 }),
            {
              freq: 5,
              nil: undefined,
            },
          ),
        ),
      ),
      fc.oneof(
        { arbitrary: fc.constant([] as [string, J][]), weight: 3 },
        { arbitrary: fc.array(fc.tuple(keyArb, nastyJson), { minLength: 1, maxLength: 2 }), weight: 1 },
      ),
    )
    .map(([values, more]) => {
      const entries: [string, J][] = [];
      values.forEach((v, i) => v !== undefined && entries.push([props[i][0], v]));
      return new Obj([...entries, ...more]);
    });
  return fc.oneof(
    { arbitrary: validRecord.map(toObj), weight: 1 },
    { arbitrary: oneBad, weight: 5 },
    { arbitrary: chaos, weight: 3 },
  );
}

function invalidJson(text: string, how: number, at: number): string {
  switch (how) {
    case 0:
      return text.slice(0, Math.floor(text.length * at)); // truncated
    case 1:
      return `${text}}garbage`;
    case 2:
      return text.replace(/"/g, "'");
    case 3:
      return `\ufeff${text}`;
    case 4:
      return text.replace(/:/, ':,');
    case 5:
      return '';
    default:
      return `${text.slice(0, -1)},}`;
  }
}

const formEncode = (o: Obj) =>
  o.entries
    .map(([k, v]) => `${encodeBytes(k)}=${encodeBytes(typeof v === 'string' ? v : jsonText(v))}`)
    .join('&');

export function bodyArb(op: Operation): fc.Arbitrary<Pick<FuzzRequest, 'body' | 'kind'> & { type?: string }> {
  const value: fc.Arbitrary<J> = op.body
    ? fc.oneof({ arbitrary: schemaObject(op.body, op), weight: 8 }, { arbitrary: nastyJson, weight: 2 })
    : fc.oneof(fc.constant(new Obj([])), nastyJson);
  return fc.oneof(
    {
      arbitrary: fc.tuple(value, fc.constantFrom(...JSON_TYPES)).map(([v, type]) => ({
        body: jsonText(v),
        type,
        kind: 'json',
      })),
      weight: 10,
    },
    {
      arbitrary: fc
        .tuple(value, fc.integer({ min: 0, max: 6 }), fc.double({ min: 0, max: 1, noNaN: true }))
        .map(([v, how, at]) => ({
          body: invalidJson(jsonText(v), how, at),
          type: 'application/json',
          kind: 'invalid json',
        })),
      weight: 3,
    },
    {
      // __proto__ and constructor.prototype written into the JSON text itself (a JS literal would not keep them)
      arbitrary: fc
        .tuple(
          value,
          fc.constantFrom('{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}'),
        )
        .map(([v, poison]) => {
          const text = jsonText(v);
          const body =
            text.startsWith('{') && text.length > 2 ? `${poison.slice(0, -1)},${text.slice(1)}` : poison;
          return { body, type: 'application/json', kind: 'prototype poisoning' };
        }),
      weight: 2,
    },
    {
      arbitrary: fc
        .tuple(
          op.body ? schemaObject(op.body, op) : fc.constant(new Obj([['a', 'b']])),
          fc.constantFrom(...OTHER_TYPES),
        )
        .map(([o, type]) => ({
          body: type.includes('urlencoded') ? formEncode(o) : jsonText(o),
          type: type || undefined,
          kind: `content-type ${type || 'none'}`,
        })),
      weight: 3,
    },
    {
      arbitrary: fc.constantFrom(600_000, 1_100_000).map((n) => ({
        body: JSON.stringify({
          body: 'x'.repeat(n),
          to: '+919876543210',
          type: 'sms',
          mobile_number: 'x'.repeat(n),
        }),
        type: 'application/json',
        kind: `large (${n} bytes)`,
      })),
      weight: 1,
    },
  );
}

// --- URLs ---

/** Percent-encodes every byte but the unreserved ones (lone surrogates become U+FFFD's bytes, as on a wire). */
export function encodeBytes(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const malformedPercent = fc.constantFrom(
  '%',
  '%zz',
  '%E0%A4%A',
  '%C0%AF',
  '%FF%FE',
  '%%00',
  '%u0041',
  '..%2F..%2F',
);

function pathValue(op: Operation, name: string): fc.Arbitrary<string> {
  const schema = op.params.find((p) => p.in === 'path' && p.name === name)?.schema;
  return fc.oneof(
    {
      arbitrary: validValue(name, schema, op).map((v) =>
        encodeBytes(typeof v === 'string' ? v : jsonText(v)),
      ),
      weight: 3,
    },
    {
      arbitrary: withPoison(
        validValue(name, schema, op).map((v) => (typeof v === 'string' ? v : jsonText(v))),
      ).map(encodeBytes),
      weight: 2,
    },
    { arbitrary: nastyString.filter((s) => s.length < 5000).map(encodeBytes), weight: 5 },
    { arbitrary: malformedPercent, weight: 1 },
  );
}

function queryArb(op: Operation): fc.Arbitrary<string> {
  const declared = op.params.filter((p) => p.in === 'query');
  const qvalue = (name: string, schema?: SchemaObject) =>
    fc.oneof(
      {
        arbitrary: validValue(name, schema, op).map((v) => [typeof v === 'string' ? v : jsonText(v)]),
        weight: 2,
      },
      {
        arbitrary: withPoison(
          validValue(name, schema, op).map((v) => (typeof v === 'string' ? v : jsonText(v))),
        ).map((v) => [v]),
        weight: 2,
      },
      { arbitrary: nastyString.filter((s) => s.length < 5000).map((s) => [s]), weight: 3 },
      {
        arbitrary: fc.array(
          nastyString.filter((s) => s.length < 100),
          { minLength: 2, maxLength: 3 },
        ),
        weight: 1,
      },
    );
  const fields = declared.map((p) => fc.option(qvalue(p.name, p.schema), { freq: 2, nil: undefined }));
  const extra = fc.array(fc.tuple(keyArb, qvalue('extra')), { maxLength: 2 });
  return fc
    .tuple(fc.tuple(...fields), extra, sometimes(malformedPercent, 10))
    .map(([values, more, broken]) => {
      const pairs: string[] = [];
      values.forEach((vs, i) => vs?.forEach((v) => pairs.push(`${declared[i].name}=${encodeBytes(v)}`)));
      for (const [k, vs] of more) for (const v of vs) pairs.push(`${encodeBytes(k)}=${encodeBytes(v)}`);
      if (broken) pairs.push(`x=${broken}`);
      return pairs.length ? `?${pairs.join('&')}` : '';
    });
}

// --- headers ---

/** What can arrive in a header value over the wire: visible ASCII, space, and obs-text bytes. */
const headerValue = fc
  .oneof(
    {
      arbitrary: fc.string({
        unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
        maxLength: 60,
      }),
      weight: 3,
    },
    {
      arbitrary: fc.string({
        unit: fc
          .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff }))
          .map((c) => String.fromCharCode(c)),
        minLength: 1,
        maxLength: 60,
      }),
      weight: 1,
    },
    {
      arbitrary: fc.constantFrom(
        "'; DROP TABLE messages;--",
        "redis.call('FLUSHALL')",
        ']]',
        'x'.repeat(4000),
        '\u00ff\u00fe',
      ),
      weight: 1,
    },
  )
  .map((s) => s.trim());

const headerName = fc.constantFrom(
  'x-fuzz',
  'accept',
  'accept-encoding',
  'x-http-method-override',
  'origin',
  'cookie',
  'range',
  'content-encoding',
  'if-none-match',
);

function jwtLike(): fc.Arbitrary<string> {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return fc.oneof(
    headerValue,
    fc.constant(
      `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'x', sid: '0'.repeat(32), jti: 'j', exp: 9e9 })}.`,
    ),
    fc.constant(`${b64({ alg: 'HS256' })}.${b64({ sub: 'x' })}.c2lnbmF0dXJl`),
    fc.tuple(headerValue, headerValue, headerValue).map(([a, b, c]) => `${a}.${b}.${c}`),
  );
}

function authArb(op: Operation, token: () => string | undefined): fc.Arbitrary<Record<string, string>> {
  if (op.security === 'public') {
    return fc.oneof(
      fc.constant({}),
      headerValue.map((v) => ({ 'x-twilio-signature': v })),
    );
  }
  if (op.security === 'access-token') {
    return fc.oneof(
      {
        arbitrary: fc.constant(null).map(() => ({ authorization: `Bearer ${token() ?? 'none'}` })),
        weight: 2,
      },
      { arbitrary: jwtLike().map((t) => ({ authorization: `Bearer ${t}` })), weight: 2 },
      { arbitrary: fc.constant({}), weight: 1 },
    );
  }
  const key = op.path.startsWith('/admin')
    ? fc.constant(TEST_ADMIN_KEY)
    : fc.constantFrom(TEST_CLIENT_KEY, TEST_ADMIN_KEY);
  return fc.oneof(
    { arbitrary: key.map((k) => ({ 'x-api-key': k })), weight: 6 },
    { arbitrary: key.map((k) => ({ authorization: `Bearer ${k}` })), weight: 2 },
    { arbitrary: fc.constant({}), weight: 1 },
    { arbitrary: headerValue.map((v) => ({ 'x-api-key': v })), weight: 1 },
  );
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'];

/** Malformed requests for one operation. `token` gives a live access token for the end-user routes. */
export function requestArb(
  op: Operation,
  token: () => string | undefined = () => undefined,
): fc.Arbitrary<FuzzRequest> {
  const names = [...op.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
  const pathValues = fc.tuple(...names.map((n) => pathValue(op, n)));
  const sendsBody = op.body || op.consumes.length || op.method !== 'GET';
  return fc
    .record({
      method: fc.oneof(
        { arbitrary: fc.constant(op.method), weight: 12 },
        { arbitrary: fc.constantFrom(...METHODS), weight: 1 },
      ),
      path: pathValues.map((vs) => fillPath(op, (n) => vs[names.indexOf(n)])),
      query: queryArb(op),
      auth: authArb(op, token),
      forwardedFor: fc.oneof(
        { arbitrary: fc.ipV4(), weight: 8 },
        { arbitrary: fc.ipV6(), weight: 1 },
        { arbitrary: headerValue, weight: 1 },
      ),
      idempotencyKey: sometimes(headerValue, 25),
      requestId: sometimes(headerValue, 20),
      extraHeaders: fc.dictionary(headerName, headerValue, { maxKeys: 2 }),
      body: sendsBody ? fc.option(bodyArb(op), { freq: 12, nil: undefined }) : fc.constant(undefined),
    })
    .map((r) => {
      const headers: Record<string, string> = {
        ...r.extraHeaders,
        ...r.auth,
        'x-forwarded-for': r.forwardedFor,
      };
      if (r.idempotencyKey !== undefined) headers['idempotency-key'] = r.idempotencyKey;
      if (r.requestId !== undefined) headers['x-request-id'] = r.requestId;
      if (r.body?.type) headers['content-type'] = r.body.type;
      const req: FuzzRequest = {
        method: r.method,
        url: r.path + r.query,
        headers,
        ...(r.body && { body: r.body.body }),
        kind: r.body?.kind ?? 'no body',
      };
      return Object.assign(req, { [fc.toStringMethod]: () => describeRequest(req) });
    });
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);

export function describeRequest(r: FuzzRequest): string {
  return JSON.stringify({
    method: r.method,
    url: clip(r.url, 300),
    headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, clip(v, 120)])),
    kind: r.kind,
    body: r.body === undefined ? undefined : clip(r.body, 400),
  });
}

export interface Answer {
  statusCode: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

/**
 * What every answer to a malformed request must be: never a 5xx; a 4xx in SPEC's shape (JSON with statusCode,
 * error, code and message), with no stack trace, and a 429 with Retry-After. Returns the problem, or null.
 */
export function problemWith(req: Pick<FuzzRequest, 'method'>, res: Answer): string | null {
  if (res.statusCode >= 500) return `answered ${res.statusCode}: ${clip(res.body, 500)}`;
  if (res.statusCode < 400 || req.method === 'HEAD') return null;
  if (!/^application\/json/.test(String(res.headers['content-type'] ?? '')))
    return `a ${res.statusCode} with content-type ${res.headers['content-type']}: ${clip(res.body, 300)}`;
  let body: any;
  try {
    body = JSON.parse(res.body);
  } catch {
    return `a ${res.statusCode} whose body is not JSON: ${clip(res.body, 300)}`;
  }
  const shaped =
    body &&
    body.statusCode === res.statusCode &&
    typeof body.error === 'string' &&
    typeof body.code === 'string' &&
    /^[A-Z0-9_]+$/.test(body.code) &&
    typeof body.message === 'string';
  if (!shaped) return `a ${res.statusCode} not in the SPEC error shape: ${clip(res.body, 300)}`;
  if (/\bat .*\.(ts|js):\d+|node_modules/.test(res.body))
    return `a stack trace in the answer: ${clip(res.body, 300)}`;
  if (res.statusCode === 429 && !res.headers['retry-after']) return 'a 429 without Retry-After';
  return null;
}

/** Bodies of 2 MB (twice the limit) of every kind, sent whole (Content-Length) or in chunks (no length). */
export function hugeBodyArb(ops: Operation[]): fc.Arbitrary<FuzzRequest & { chunked: boolean }> {
  const SIZE = 2 * 1024 * 1024;
  const bodies = fc.constantFrom(
    {
      kind: '2 MB JSON string field',
      type: 'application/json',
      make: () => JSON.stringify({ body: 'x'.repeat(SIZE) }),
    },
    {
      kind: '2 MB JSON of unicode digits',
      type: 'application/json',
      make: () => JSON.stringify({ to: '٣'.repeat(SIZE / 2) }),
    },
    {
      kind: '2 MB nested arrays',
      type: 'application/json',
      make: () => '['.repeat(SIZE / 2) + ']'.repeat(SIZE / 2),
    },
    { kind: '2 MB invalid JSON', type: 'application/json', make: () => `{"a":"${'x'.repeat(SIZE)}` },
    { kind: '2 MB form', type: 'application/x-www-form-urlencoded', make: () => `Body=${'x'.repeat(SIZE)}` },
    { kind: '2 MB text', type: 'text/plain', make: () => 'x'.repeat(SIZE) },
    { kind: '2 MB without a content type', type: undefined, make: () => 'x'.repeat(SIZE) },
  );
  return fc
    .record({
      op: fc.constantFrom(...ops.filter((o) => o.method !== 'GET')),
      body: bodies,
      chunked: fc.boolean(),
    })
    .map(({ op, body, chunked }) => {
      const req = {
        method: op.method,
        url: op.path.replace(/\{[^}]+\}/g, 'x'),
        headers: {
          'x-api-key': op.path.startsWith('/admin') ? TEST_ADMIN_KEY : TEST_CLIENT_KEY,
          ...(body.type && { 'content-type': body.type }),
        },
        body: body.make(),
        kind: `${body.kind}${chunked ? ', chunked' : ''}`,
        chunked,
      };
      return Object.assign(req, { [fc.toStringMethod]: () => describeRequest(req) });
    });
}
