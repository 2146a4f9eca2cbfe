// Checks an answer against openapi.json: the operation is documented, the status is one it declares, and a JSON
// body matches the declared schema. The test app's request helper runs it on every answer, so a drift between
// what the service answers and what a client generated from the document expects fails a test.
import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

type Schema = Record<string, unknown>;
interface Operation {
  operationId?: string;
  responses: Record<string, { content?: Record<string, { schema?: Schema }> }>;
}

/** Served, on purpose, outside the document: the docs themselves, the metrics and the queue dashboard. */
export const UNDOCUMENTED = /^\/(docs|metrics|admin\/queues|__probe)(\/|$|-)/;

const document = JSON.parse(readFileSync(join(__dirname, '..', '..', 'openapi.json'), 'utf8')) as {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
};

/** OpenAPI 3.0's schema dialect as JSON Schema: `nullable` becomes a null type, refs point into one schema. */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!node || typeof node !== 'object') return node;
  const { nullable, example: _e, ...rest } = node as Schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(rest))
    out[k] = k === '$ref' ? String(v).replace('#/components/', 'openapi#/components/') : toJsonSchema(v);
  if (nullable !== true) return out;
  if (typeof out.type === 'string')
    return {
      ...out,
      type: [out.type, 'null'],
      ...(out.enum ? { enum: [...(out.enum as unknown[]), null] } : {}),
    };
  return { anyOf: [out, { type: 'null' }] };
}

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: 'openapi', components: toJsonSchema(document.components) as object });

const operations = Object.entries(document.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, op]) => ({
    method: method.toUpperCase(),
    path,
    pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`),
    op,
  })),
);
const validators = new Map<string, ValidateFunction>();

/** Why an answer breaks the contract, or null when it keeps it. */
export function contractViolation(
  method: string,
  url: string,
  status: number,
  contentType: string | undefined,
  body: string,
): string | null {
  const path = url.split('?')[0];
  if (UNDOCUMENTED.test(path)) return null;
  // A literal path wins over a template (/api/v1/messages/queues over /api/v1/messages/{id}).
  const candidates = operations.filter((o) => o.method === method.toUpperCase() && o.pattern.test(path));
  const found = candidates.find((o) => !o.path.includes('{')) ?? candidates[0];
  if (!found) return status === 404 || status === 405 ? null : `${method} ${path} is not in openapi.json`;
  const response = found.op.responses[String(status)] ?? found.op.responses.default;
  const label = `${method} ${found.path} answered ${status}`;
  if (!response) return `${label}, which openapi.json does not declare`;
  if (!/json/.test(contentType ?? '') || !body) return null;
  const schema = response.content?.['application/json']?.schema;
  if (!schema) return `${label} with a JSON body, but openapi.json declares none`;
  const key = `${found.method} ${found.path} ${status}`;
  let validate = validators.get(key);
  if (!validate) validators.set(key, (validate = ajv.compile(toJsonSchema(schema) as object)));
  if (validate(JSON.parse(body))) return null;
  return `${label} with a body that does not match its schema: ${ajv.errorsText(validate.errors)}\n${body.slice(0, 500)}`;
}
