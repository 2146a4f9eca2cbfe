import { BITS_PER_CHAR, canonicalHash, generateHash, HASH_ALPHABET, MIN_HASH_LENGTH } from './hash';

describe('onboarding hash', () => {
  it('has the requested length and only typeable characters', () => {
    for (const len of [MIN_HASH_LENGTH, 10, 16]) {
      const h = generateHash(len);
      expect(h).toHaveLength(len);
      expect(h).toMatch(/^[ABCDEFGHJKMNPQRSTUVWXYZ2-9]+$/);
      expect(h).not.toMatch(/[01OIL]/);
    }
  });

  it('carries at least 40 bits at the minimum length', () => {
    expect(MIN_HASH_LENGTH * BITS_PER_CHAR).toBeGreaterThanOrEqual(40);
    expect((MIN_HASH_LENGTH - 1) * BITS_PER_CHAR).toBeLessThan(40);
  });

  it('uses every character of the alphabet about equally (no modulo bias)', () => {
    const counts = new Map<string, number>();
    const sample = Array.from({ length: 4000 }, () => generateHash(10)).join('');
    for (const c of sample) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(HASH_ALPHABET.length);
    const expected = sample.length / HASH_ALPHABET.length;
    for (const n of counts.values()) expect(Math.abs(n - expected) / expected).toBeLessThan(0.1);
  });

  it('does not repeat', () => {
    const seen = new Set(Array.from({ length: 10000 }, () => generateHash(MIN_HASH_LENGTH)));
    expect(seen.size).toBe(10000);
  });

  it('compares case-insensitively', () => {
    expect(canonicalHash('  abc23 ')).toBe('ABC23');
  });
});
