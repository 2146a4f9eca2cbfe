import { abuseCheck } from './abuse.check';
import { blacklistCheck } from './blacklist.check';
import { hashCheck } from './hash.check';
import { headerCheck } from './header.check';
import { INBOUND_CHECKS, InboundContext, runInboundChecks, TOKEN_CHECKS } from '.';
import { onboardedCheck } from './onboarded.check';
import { tokenHeaderCheck } from './token-header.check';
import { tokenCheck } from './token.check';

const ctx = (over: Partial<InboundContext> = {}): InboundContext => ({
  mobile: '+919876543210',
  message: 'ONBOARD ABCDEFGHJK',
  blacklisted: false,
  inboundCount: 1,
  storedHash: 'ABCDEFGHJK',
  onboarded: false,
  settings: { salt_length: 10, permitted_headers: ['ONBOARD', 'GEO'], abuse_threshold: 10 },
  ...over,
});

describe('inbound checks', () => {
  it('blacklist', () => {
    expect(blacklistCheck.check(ctx())).toBeNull();
    expect(blacklistCheck.check(ctx({ blacklisted: true }))).toBe('blacklisted');
  });

  it('abuse: the threshold itself passes, one more is refused', () => {
    expect(abuseCheck.check(ctx({ inboundCount: 10 }))).toBeNull();
    expect(abuseCheck.check(ctx({ inboundCount: 11 }))).toBe('abuse_threshold_exceeded');
  });

  it('header: permitted, case-insensitive, any white space', () => {
    expect(headerCheck.check(ctx({ message: 'geo   ABCDEFGHJK' }))).toBeNull();
    expect(headerCheck.check(ctx({ message: '\tOnboard\nABCDEFGHJK ' }))).toBeNull();
    expect(headerCheck.check(ctx({ message: 'HELLO ABCDEFGHJK' }))).toBe('unknown_header');
    expect(headerCheck.check(ctx({ message: 'ONBOARD' }))).toBe('malformed_message');
    expect(headerCheck.check(ctx({ message: 'ONBOARD A B' }))).toBe('malformed_message');
    expect(headerCheck.check(ctx({ message: '' }))).toBe('malformed_message');
  });

  it('hash: matches case-insensitively; missing means expired', () => {
    expect(hashCheck.check(ctx({ message: 'ONBOARD abcdefghjk' }))).toBeNull();
    expect(hashCheck.check(ctx({ message: 'ONBOARD ABCDEFGHJJ' }))).toBe('hash_mismatch');
    expect(hashCheck.check(ctx({ message: 'ONBOARD ABC' }))).toBe('hash_mismatch');
    expect(hashCheck.check(ctx({ storedHash: null }))).toBe('hash_expired');
  });

  it('onboarded', () => {
    expect(onboardedCheck.check(ctx({ onboarded: true }))).toBe('already_onboarded');
  });

  it('runs in the fixed order and stops at the first rejection', () => {
    expect(INBOUND_CHECKS.map((c) => c.name)).toEqual(['blacklist', 'abuse', 'header', 'hash', 'onboarded']);
    expect(runInboundChecks(ctx())).toBeNull();
    expect(runInboundChecks(ctx({ blacklisted: true, inboundCount: 99, message: 'x' }))).toBe('blacklisted');
    expect(runInboundChecks(ctx({ inboundCount: 99, message: 'x' }))).toBe('abuse_threshold_exceeded');
    expect(runInboundChecks(ctx({ message: 'NOPE X', storedHash: null }))).toBe('unknown_header');
    expect(runInboundChecks(ctx({ storedHash: null, onboarded: true }))).toBe('hash_expired');
  });

  describe('device binding', () => {
    const TOKEN = '7K3VQ9M2XD8TR4HN6PWBJC1FGZ5Y0AESKQ2MNV8D';
    const bound = { mobile: '+919876543210', device: 'd1', state: 'live' as const };
    const tctx = (over: Partial<InboundContext> = {}) => ctx({ message: TOKEN, token: bound, ...over });

    it('header: optional; when given, permitted', () => {
      expect(tokenHeaderCheck.check(tctx())).toBeNull();
      expect(tokenHeaderCheck.check(tctx({ message: `geo ${TOKEN}` }))).toBeNull();
      expect(tokenHeaderCheck.check(tctx({ message: `HELLO ${TOKEN}` }))).toBe('unknown_header');
      expect(tokenHeaderCheck.check(tctx({ message: `A B ${TOKEN}` }))).toBe('malformed_message');
    });

    it('token: issued, bound to the sender (whatever its state), unused, not burned', () => {
      expect(tokenCheck.check(tctx())).toBeNull();
      expect(tokenCheck.check(tctx({ token: null }))).toBe('token_expired');
      expect(tokenCheck.check(tctx({ mobile: '+919876543211' }))).toBe('token_sender_mismatch');
      expect(tokenCheck.check(tctx({ mobile: '+919876543211', token: { ...bound, state: 'used' } }))).toBe(
        'token_sender_mismatch',
      );
      expect(tokenCheck.check(tctx({ token: { ...bound, state: 'used' } }))).toBe('token_used');
      expect(tokenCheck.check(tctx({ token: { ...bound, state: 'burned' } }))).toBe('token_burned');
    });

    it('runs blacklist, abuse, header, token; an onboarded number may bind a new device', () => {
      expect(TOKEN_CHECKS.map((c) => c.name)).toEqual(['blacklist', 'abuse', 'token_header', 'token']);
      expect(runInboundChecks(tctx({ onboarded: true }), TOKEN_CHECKS)).toBeNull();
      expect(runInboundChecks(tctx({ blacklisted: true, mobile: '+1' }), TOKEN_CHECKS)).toBe('blacklisted');
      expect(runInboundChecks(tctx({ inboundCount: 99, token: null }), TOKEN_CHECKS)).toBe(
        'abuse_threshold_exceeded',
      );
    });
  });
});
