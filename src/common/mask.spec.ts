import { maskPhone, maskPhonesIn } from './mask';

describe('maskPhone', () => {
  it('keeps the first two and last two digits only', () => {
    expect(maskPhone('+919876543210')).toBe('+91********10');
    expect(maskPhone('9876543210')).toBe('98******10');
  });

  it('masks every long digit run in a URL', () => {
    const masked = maskPhonesIn('/onboard/register/+919876543210?x=1&to=14155550123');
    expect(masked).not.toContain('9876543210');
    expect(masked).not.toContain('4155550123');
    expect(masked).toContain('?x=1');
  });

  it('leaves short numbers alone', () => {
    expect(maskPhonesIn('/api/v1/messages?limit=50')).toBe('/api/v1/messages?limit=50');
  });
});
