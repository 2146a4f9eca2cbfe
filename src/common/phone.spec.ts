import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { AppException } from './app.exception';
import { IsMobileNumber, MobileNumberPipe, normalizePhone, parsePhone, phoneType } from './phone';

class Body {
  @IsMobileNumber()
  mobile_number: string;
}

class Message {
  type: string;
  @IsMobileNumber((o) => o.type !== 'email')
  to: string;
}

describe('phone numbers', () => {
  it('normalises E.164 and national formats to E.164', () => {
    expect(normalizePhone('+919876543210')).toBe('+919876543210');
    expect(normalizePhone('9876543210')).toBe('+919876543210');
    expect(normalizePhone('098765 43210')).toBe('+919876543210');
    expect(parsePhone('(415) 555-2671', 'US')?.e164).toBe('+14155552671');
    expect(parsePhone('+14155552671')?.callingCode).toBe('1');
  });

  it('rejects what is not a phone number with a 400 INVALID_MOBILE_NUMBER naming the field', () => {
    for (const bad of [
      '',
      '123',
      'abc',
      '+91987654321099999',
      '٩٨٧٦٥٤٣٢١٠',
      '+9198765x3210',
      '   ',
      '9'.repeat(40),
      12345,
      null,
    ]) {
      expect(() => normalizePhone(bad)).toThrow(AppException);
    }
    expect(() => new MobileNumberPipe('to').transform('abc')).toThrow(/to is not a valid phone number/);
    expect(new MobileNumberPipe().transform(' 98765 43210 ')).toBe('+919876543210');
    expect(parsePhone(12345 as unknown)).toBeUndefined();
  });

  it('reads a body field as E.164, or fails it with the rule the validation pipe answers as INVALID_MOBILE_NUMBER', () => {
    const ok = plainToInstance(Body, { mobile_number: '098765 43210' });
    expect(validateSync(ok)).toEqual([]);
    expect(ok.mobile_number).toBe('+919876543210');
    for (const bad of ['123', 42, undefined, '+9198765x3210', ['+919876543210']]) {
      const errors = validateSync(plainToInstance(Body, { mobile_number: bad }));
      expect(errors.map((e) => Object.keys(e.constraints ?? {}))).toEqual([['isMobileNumber']]);
    }
    // Only where the condition holds: an e-mail message's `to` is left alone (its own rules apply).
    const email = plainToInstance(Message, { type: 'email', to: 'a@example.com' });
    expect([validateSync(email), email.to]).toEqual([[], 'a@example.com']);
    const sms = plainToInstance(Message, { type: 'sms', to: '9876543210' });
    expect([validateSync(sms), sms.to]).toEqual([[], '+919876543210']);
    expect(validateSync(plainToInstance(Message, { type: 'sms', to: 'a@example.com' }))).toHaveLength(1);
  });

  it('types numbers from libphonenumber, and satellite networks as satellite', () => {
    expect(phoneType('+447911123456').type).toBe('mobile');
    expect(phoneType('+18005550100').type).toBe('toll_free');
    expect(phoneType('+881612345678')).toEqual({ callingCode: '881', type: 'satellite' });
    expect(phoneType('+8707762345678').type).toBe('satellite');
  });
});
