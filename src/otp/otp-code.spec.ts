import { hashCode, newCode, sameHash } from './otp-code';

describe('OTP codes', () => {
  it('are six digits, spread over the whole range', () => {
    const codes = Array.from({ length: 2000 }, newCode);
    for (const c of codes) expect(c).toMatch(/^\d{6}$/);
    expect(new Set(codes.map((c) => c[0])).size).toBe(10);
  });

  it('are stored as an HMAC bound to the number and the secret', () => {
    const h = hashCode('s', '+919876543210', '123456');
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(h).not.toContain('123456');
    expect(hashCode('s', '+919876543211', '123456')).not.toBe(h);
    expect(hashCode('t', '+919876543210', '123456')).not.toBe(h);
    expect(sameHash(h, hashCode('s', '+919876543210', '123456'))).toBe(true);
    expect(sameHash(h, hashCode('s', '+919876543210', '123457'))).toBe(false);
  });
});
