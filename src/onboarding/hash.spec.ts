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

  it('uses every character of the alphabet equally (no modulo bias)', () => {
    const counts = new Map<string, number>();
    const sample = Array.from({ length: 8000 }, () => generateHash(10)).join('');
    for (const c of sample) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(HASH_ALPHABET.length);
    const expected = sample.length / HASH_ALPHABET.length;
    // Pearson's chi-square over the 31 characters (30 degrees of freedom): a fair generator exceeds 80 about
    // twice in a million runs, while plain modulo (8 characters 9 % likelier) lands far above (about 280).
    // (A 10 % bound per character failed a fair generator about once in 150 runs and let that bias through.)
    const chiSquare = [...counts.values()].reduce((sum, n) => sum + (n - expected) ** 2 / expected, 0);
    expect(chiSquare).toBeLessThan(80);
  });

  it('does not repeat', () => {
    const seen = new Set(Array.from({ length: 10000 }, () => generateHash(MIN_HASH_LENGTH)));
    expect(seen.size).toBe(10000);
  });

  it('compares case-insensitively', () => {
    expect(canonicalHash('  abc23 ')).toBe('ABC23');
  });
});
