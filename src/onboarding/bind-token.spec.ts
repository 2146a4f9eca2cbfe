import { NUMBER_BUCKETS } from '../redis/redis-keys';
import { HASH_ALPHABET, MAX_HASH_LENGTH } from './hash';
import {
  boundToken,
  canonicalToken,
  deviceDigest,
  generateToken,
  looksLikeToken,
  TOKEN_ALPHABET,
  TOKEN_LENGTH,
  tokenBucket,
  tokenDigest,
} from './bind-token';

describe('device-binding tokens', () => {
  it('are 40 characters of Crockford base32 (no I, L, O, U), at least 35 and longer than any hash', () => {
    expect(TOKEN_LENGTH).toBeGreaterThanOrEqual(35);
    expect(TOKEN_LENGTH).toBeGreaterThan(MAX_HASH_LENGTH);
    for (let i = 0; i < 200; i++) {
      const t = generateToken(i % NUMBER_BUCKETS);
      expect(t).toMatch(/^[0-9A-HJKMNP-TV-Z]{40}$/);
      expect(looksLikeToken(t)).toBe(true);
    }
    expect(new Set(Array.from({ length: 1000 }, () => generateToken(7))).size).toBe(1000);
  });

  it('carry the bound number bucket in their first two characters, for every bucket', () => {
    for (let b = 0; b < NUMBER_BUCKETS; b++) expect(tokenBucket(generateToken(b))).toBe(b);
  });

  it('spread their random characters evenly over the alphabet', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++)
      for (const c of generateToken(0).slice(2)) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(TOKEN_ALPHABET.length);
    const expected = (2000 * 38) / 32;
    for (const n of counts.values()) expect(Math.abs(n - expected) / expected).toBeLessThan(0.15);
  });

  it('read back case-insensitively, look-alikes as their digits; a U is no token', () => {
    const t = generateToken(513);
    expect(canonicalToken(t.toLowerCase())).toBe(t);
    expect(canonicalToken('O'.repeat(40))).toBe('0'.repeat(40));
    expect(canonicalToken('iL'.repeat(20))).toBe('1'.repeat(40));
    expect(canonicalToken('U'.repeat(40))).toBeNull();
  });

  it('are told from typed hashes by their shape', () => {
    expect(looksLikeToken('K7MPX3QRTV')).toBe(false);
    expect(looksLikeToken(HASH_ALPHABET.slice(0, 31) + 'A')).toBe(false);
    expect(looksLikeToken('A'.repeat(39))).toBe(false);
    expect(looksLikeToken('A'.repeat(39) + '-')).toBe(false);
  });

  it('are kept as digests; device ids as keyed digests', () => {
    const t = generateToken(1);
    expect(tokenDigest(t)).toMatch(/^[0-9a-f]{32}$/);
    expect(tokenDigest(t)).not.toContain(t.slice(2, 10).toLowerCase());
    expect(deviceDigest('k1', 'device-123')).toBe(deviceDigest('k1', 'device-123'));
    expect(deviceDigest('k1', 'device-123')).not.toBe(deviceDigest('k2', 'device-123'));
  });

  it('read a stored token from either HGETALL reply shape', () => {
    expect(boundToken({})).toBeNull();
    expect(boundToken(null)).toBeNull();
    expect(boundToken({ m: '+919876543210', d: 'ab', s: 'used' })).toEqual({
      mobile: '+919876543210',
      device: 'ab',
      state: 'used',
    });
    expect(boundToken(['m', '+919876543210', 'd', 'ab', 's', 'live'])?.state).toBe('live');
  });
});
