// The ValidationPipe of every body, query and parameter DTO (`Validated`), with two checks before it, each a 400:
// - JSON nested deeper than MAX_JSON_DEPTH. class-transformer and class-validator recurse once per level, so a
//   body of a few thousand nested brackets (a few KB, far under the body limit) would overflow the stack: 500.
// - A body that is not a JSON object where a DTO is expected. ValidationPipe validates a string, number or array
//   body as an empty object, so a DTO whose fields are all optional let `"abc"` or `["x"]` through to the service
//   (PUT /admin/settings then stored settings named "0", "1", ...; a NUL inside made Postgres fail: 500).
import { ArgumentMetadata, ValidationPipe } from '@nestjs/common';
import { AppException } from '../common/app.exception';
import { IS_MOBILE_NUMBER } from '../common/phone';

/** More than any real request needs (contexts and metadata are small JSON objects), far below the stack's limit. */
export const MAX_JSON_DEPTH = 64;

/** True when objects and arrays in `value` nest deeper than `limit` levels. Iterative: safe at any depth. */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, level] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (level > limit) return true;
    for (const child of Object.values(v)) stack.push([child, level + 1]);
  }
  return false;
}

export class BoundedValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (nestedDeeperThan(value, MAX_JSON_DEPTH)) {
      throw new AppException(
        400,
        'TOO_DEEPLY_NESTED',
        `The ${metadata.type === 'body' ? 'body' : metadata.type} nests deeper than ${MAX_JSON_DEPTH} levels`,
      );
    }
    const primitive = value !== null && value !== undefined && typeof value !== 'object';
    if (metadata.type === 'body' && this.toValidate(metadata) && (primitive || Array.isArray(value))) {
      throw new AppException(400, 'VALIDATION_FAILED', 'The body must be a JSON object');
    }
    return super.transform(value, metadata);
  }
}

/**
 * The pipe every `@Body`, `@Query` and `@Param` takes unless it has a pattern of its own: `@Body(Validated)`.
 * Per parameter rather than global: a global pipe also runs (as several promises) on every parameter that has
 * nothing to validate, such as the hot routes' single path parameter. A test walks every route to check that
 * no parameter goes without a pipe.
 */
export const Validated = new BoundedValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  stopAtFirstError: false,
  exceptionFactory: (errors) => {
    const failed = errors.flatMap(function flatten(e): [string, string][] {
      return [...Object.entries(e.constraints ?? {}), ...(e.children ?? []).flatMap(flatten)];
    });
    const details = failed.map(([, message]) => message);
    // A phone number and nothing else wrong: the answer SPEC gives a bad number.
    const code = failed.length && failed.every(([rule]) => rule === IS_MOBILE_NUMBER);
    return new AppException(
      400,
      code ? 'INVALID_MOBILE_NUMBER' : 'VALIDATION_FAILED',
      details.join('; ') || 'The request is not valid',
      { details },
    );
  },
});
