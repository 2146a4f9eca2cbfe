import { idTag, maskPhone, maskPhonesIn, maskUrl } from './mask';

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

  it('masks numbers written with percent-encoded separators, as they appear in logged URLs', () => {
    for (const url of [
      '/onboard/register/98765%2043210',
      '/onboard/register/%2B91%2098765%2043210',
      '/api/v1/messages?to=98765%2D43210&limit=0',
      '/onboard/register/%2891%29%209876543210',
    ]) {
      const masked = maskPhonesIn(url);
      expect([url, masked.replace(/\D/g, '').length <= 6]).toEqual([url, true]);
    }
    expect(maskPhonesIn('/onboard/register/%2B919876543210')).toBe('/onboard/register/+91********10');
  });
});

describe('maskUrl', () => {
  it('replaces session ids by the tag session logs use, and masks numbers', () => {
    const id = '9f86d081884c7d659a2feaa0c55ad015';
    expect(maskUrl(`/sessions/${id}`)).toBe(`/sessions/${idTag(id)}`);
    expect(maskUrl(`/users/%2B919876543210/sessions?except=${id}`)).toBe(
      `/users/+91********10/sessions?except=${idTag(id)}`,
    );
    expect(maskUrl('/api/v1/messages/3f2b9c1e-8a4d-4e6f-9b7a-1c2d3e4f5a6b')).toBe(
      '/api/v1/messages/3f2b9c1e-8a4d-4e6f-9b7a-1c2d3e4f5a6b',
    );
  });
});

describe('secret path segments (attack 18 F16)', () => {
  const token = '07f2ff5846f87b11c68594d1d2ba29e41384c39bd886362d'; // openssl rand -hex 24

  it('logs the MSG91 webhook token as its tag, however the URL is written', () => {
    expect(maskUrl(`/webhooks/msg91/status/${token}`)).toBe(`/webhooks/msg91/status/${idTag(token)}`);
    for (const url of [
      `/webhooks/msg91/status/${token}?x=1`,
      `/webhooks/msg91/status/${token}/`,
      `//webhooks//msg91/status/${token}`,
      `/Webhooks/MSG91/status/${token}`,
      `/webhooks/%6Dsg91/status/${token}`,
      `/webhooks/msg91/status/${token}/more`,
    ]) {
      const masked = maskUrl(url);
      expect([url, masked.includes(token.slice(0, 16)), masked.includes(idTag(token))]).toEqual([
        url,
        false,
        true,
      ]);
    }
    const plain = 'attackwebhooktoken0123456789abcdef';
    const encoded = [...plain].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');
    expect(maskUrl(`/webhooks/msg91/status/${encoded}`)).toBe(`/webhooks/msg91/status/${idTag(plain)}`);
    expect(maskUrl('/webhooks/msg91/other/abc')).toBe('/webhooks/msg91/other/abc');
    expect(maskUrl('/webhooks/msg91/status')).toBe('/webhooks/msg91/status');
  });
});
