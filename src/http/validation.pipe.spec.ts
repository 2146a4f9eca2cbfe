import { IsOptional, IsString } from 'class-validator';
import { BoundedValidationPipe, MAX_JSON_DEPTH, nestedDeeperThan } from './validation.pipe';

const nest = (levels: number, leaf: unknown = 1) => {
  let v: unknown = leaf;
  for (let i = 0; i < levels; i++) v = i % 2 ? [v] : { a: v };
  return v;
};

describe('nestedDeeperThan', () => {
  it('counts the levels of objects and arrays, not of scalars', () => {
    expect(nestedDeeperThan('x', 0)).toBe(false);
    expect(nestedDeeperThan({ a: 1, b: [1, 2] }, 2)).toBe(false);
    expect(nestedDeeperThan({ a: 1, b: [1, [2]] }, 2)).toBe(true);
    expect(nestedDeeperThan(nest(MAX_JSON_DEPTH), MAX_JSON_DEPTH)).toBe(false);
    expect(nestedDeeperThan(nest(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)).toBe(true);
  });

  it('checks a million levels without overflowing the stack', () => {
    expect(nestedDeeperThan(nest(1_000_000), MAX_JSON_DEPTH)).toBe(true);
  });
});

describe('BoundedValidationPipe', () => {
  class Dto {
    @IsOptional() @IsString() name?: string;
  }
  const pipe = new BoundedValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true });
  const body = { type: 'body' as const, metatype: Dto };

  it('refuses a body that is not a JSON object where a DTO is expected', async () => {
    for (const value of ['abc', '\u0000', 5, true, [], ['x']]) {
      await expect(pipe.transform(value, body)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    }
    await expect(pipe.transform({ name: 'a' }, body)).resolves.toEqual({ name: 'a' });
    await expect(pipe.transform(undefined, body)).resolves.toEqual({}); // no body: validated as {}
  });

  it('refuses nesting deeper than the limit with a 400, not a stack overflow', async () => {
    await expect(pipe.transform({ name: nest(10_000) }, body)).rejects.toMatchObject({
      code: 'TOO_DEEPLY_NESTED',
    });
  });

  it('leaves bodies without a DTO (Twilio form posts) alone', async () => {
    await expect(pipe.transform('raw', { type: 'body', metatype: Object })).resolves.toBe('raw');
  });
});
