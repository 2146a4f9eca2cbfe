import { AppException } from './app.exception';
import { normalizePhone, parsePhone, phoneType } from './phone';

describe('phone numbers', () => {
  it('normalises E.164 and national formats to E.164', () => {
    expect(normalizePhone('+919876543210', 'IN')).toBe('+919876543210');
    expect(normalizePhone('9876543210', 'IN')).toBe('+919876543210');
    expect(normalizePhone('098765 43210', 'IN')).toBe('+919876543210');
    expect(normalizePhone('(415) 555-2671', 'US')).toBe('+14155552671');
    expect(parsePhone('+14155552671', 'IN')?.callingCode).toBe('1');
  });

  it('rejects what is not a phone number with a 400', () => {
    for (const bad of [
      '',
      '123',
      'abc',
      '+91987654321099999',
      '٩٨٧٦٥٤٣٢١٠',
      '+9198765x3210',
      '   ',
      '9'.repeat(40),
    ]) {
      expect(() => normalizePhone(bad, 'IN')).toThrow(AppException);
    }
    expect(parsePhone(12345 as unknown, 'IN')).toBeUndefined();
  });

  it('types numbers from libphonenumber, and satellite networks as satellite', () => {
    expect(phoneType('+447911123456').type).toBe('mobile');
    expect(phoneType('+18005550100').type).toBe('toll_free');
    expect(phoneType('+881612345678')).toEqual({ callingCode: '881', type: 'satellite' });
    expect(phoneType('+8707762345678').type).toBe('satellite');
  });
});
