// Text Postgres can store as given. It refuses a NUL character in text and jsonb alike (a 500 when it reached the
// INSERT), refuses the escape of an unpaired UTF-16 surrogate in jsonb, and would store one in text as U+FFFD,
// silently changing the data. Such input is a 400 instead, on every field that ends up in a Postgres row.
import { registerDecorator, ValidationOptions } from 'class-validator';

// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True when a string in `value` (itself, or any key or value nested in it) holds NUL or a lone surrogate. */
export function hasUnstorableText(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (UNSTORABLE.test(v)) return true;
    } else if (v !== null && typeof v === 'object') {
      for (const [key, child] of Object.entries(v)) {
        if (UNSTORABLE.test(key)) return true;
        stack.push(child);
      }
    }
  }
  return false;
}

/** The string, or every string and key inside the JSON value, holds no NUL and no unpaired surrogate. */
export function IsStorableText(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isStorableText',
      target: target.constructor,
      propertyName: String(propertyName),
      options: {
        message: '$property must not contain NUL characters or unpaired surrogates',
        ...options,
      },
      validator: { validate: (value: unknown) => !hasUnstorableText(value) },
    });
}
