import twilio from 'twilio';
import { twilioSignature, urlVariants, validTwilioSignature } from './twilio-signature';

const token = '12345';
const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
const params = {
  CallSid: 'CA1234567890ABCDE',
  Caller: '+12349013030',
  Digits: '1234',
  From: '+12349013030',
  To: '+18005551212',
};

describe('Twilio signatures', () => {
  it('matches the official helper', () => {
    const official = twilio.getExpectedTwilioSignature(token, url, params);
    expect(twilioSignature(token, url, params)).toBe(official);
    expect(validTwilioSignature(token, official, url, params)).toBe(true);
  });

  it('refuses a missing, wrong, or replayed-with-other-params signature', () => {
    const good = twilioSignature(token, url, params);
    expect(validTwilioSignature(token, undefined, url, params)).toBe(false);
    expect(validTwilioSignature(token, 'AAAA', url, params)).toBe(false);
    expect(validTwilioSignature(token, good, url, { ...params, Digits: '9999' })).toBe(false);
    expect(validTwilioSignature('other-token', good, url, params)).toBe(false);
  });

  it('accepts the URL with and without the default port', () => {
    const plain = 'https://example.com/webhooks/twilio/status';
    expect(urlVariants(plain)).toContain('https://example.com:443/webhooks/twilio/status');
    const signedWithPort = twilio.getExpectedTwilioSignature(
      token,
      'https://example.com:443/webhooks/twilio/status',
      params,
    );
    expect(validTwilioSignature(token, signedWithPort, plain, params)).toBe(true);
    const signedWithout = twilio.getExpectedTwilioSignature(token, plain, params);
    expect(
      validTwilioSignature(token, signedWithout, 'https://example.com:443/webhooks/twilio/status', params),
    ).toBe(true);
  });

  it('refuses bodies that are not form fields (strings) instead of throwing', () => {
    const official = twilio.getExpectedTwilioSignature(token, url, params);
    for (const odd of [
      { ...params, Digits: { toString: '1234' } },
      { ...params, Digits: 1234 },
      { ...params, Digits: null },
      { ...params, Digits: ['12', 34] },
      ['a'],
      null,
    ]) {
      expect(validTwilioSignature(token, official, url, odd as any)).toBe(false);
    }
  });
});
