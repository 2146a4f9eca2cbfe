import { abuseCheck } from './abuse.check';
import { blacklistCheck } from './blacklist.check';
import { hashCheck } from './hash.check';
import { headerCheck } from './header.check';
import { INBOUND_CHECKS, InboundContext, runInboundChecks } from '.';
import { onboardedCheck } from './onboarded.check';

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
});
