import { hasUnstorableText } from './storable-text.validator';

describe('hasUnstorableText', () => {
  it('accepts any well-formed text, SQL- and Lua-looking included', () => {
    for (const ok of [
      '',
      'plain',
      '😀 ٣ ９',
      "'; DROP TABLE messages;--",
      "redis.call('FLUSHALL') ]] \\0",
      5,
      null,
    ]) {
      expect([ok, hasUnstorableText(ok)]).toEqual([ok, false]);
    }
    expect(hasUnstorableText({ a: ['😀', { b: 'c' }] })).toBe(false);
  });

  it('finds NUL and unpaired surrogates, in nested values and keys too', () => {
    for (const bad of [
      '\u0000',
      'a\u0000b',
      '\ud800',
      'x\udfff',
      '\udc00\ud800',
      ['ok', 'a\u0000'],
      { a: { b: '\ud83d' } },
      { 'k\u0000': 1 },
    ]) {
      expect([bad, hasUnstorableText(bad)]).toEqual([bad, true]);
    }
  });
});
