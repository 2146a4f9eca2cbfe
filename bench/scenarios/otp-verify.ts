// OTP verify (success): codes seeded as the service stores them (Redis JSON + otp_codes row), one per number,
// verified as fast as each side goes; and at a fixed 500 req/s for its latency (whole runs only).
import { randomUUID } from 'node:crypto';
import { hashCode } from '../../src/otp/otp-code';
import { RedisKeys } from '../../src/redis/redis-keys';
import { auth, fresh, log, ROUNDS, SECONDS, SECRETS, selected } from '../lib/context';
import { drive, LoadResult, median, once, Req } from '../lib/load';
import { SideBySide, sum } from '../lib/side-by-side';
import type { Stack } from '../lib/stack';

const CODE = '123456';

/** Numbers with a live code, each verified once. */
export class OtpCodes {
  private pool: string[] = [];

  constructor(private readonly stack: Stack) {}

  /** The next request: a number from the pool with its code. */
  readonly verify = (): Req => {
    if (!this.pool.length) throw new Error('the OTP pool ran dry: raise its size');
    return {
      method: 'POST',
      path: '/otp/verify',
      headers: auth,
      body: { mobile_number: this.pool.pop(), otp: CODE },
    };
  };

  /** Makes sure at least `count` codes are left (seeding a new pool of `count` when fewer are). */
  async ensure(count: number): Promise<void> {
    if (this.pool.length <= count) this.pool = await this.seed(count);
  }

  async seed(count: number): Promise<string[]> {
    const { db, prefixed } = this.stack;
    const numbers = Array.from({ length: count }, () => fresh());
    const now = Date.now();
    for (let i = 0; i < numbers.length; i += 2000) {
      const chunk = numbers.slice(i, i + 2000);
      const ids = chunk.map(() => randomUUID());
      const hashes = chunk.map((m) => hashCode(SECRETS.OTP_SECRET, m, CODE));
      await db.query(
        `INSERT INTO otp_codes (id, mobile_number, otp_hash, channel, expires_at)
         SELECT unnest($1::uuid[]), unnest($2::text[]), unnest($3::text[]), 'sms', now() + interval '1 hour'`,
        [ids, chunk, hashes],
      );
      const p = prefixed.pipeline();
      chunk.forEach((m, j) => {
        const stored = {
          otp_hash: hashes[j],
          mobile_number: m,
          created_at: new Date(now).toISOString(),
          expires_at: new Date(now + 3600_000).toISOString(),
          expires_ms: now + 3600_000,
          channel: 'sms',
          user_id: null,
          message_id: null,
          row_id: ids[j],
        };
        p.set(RedisKeys.otp(m), JSON.stringify(stored), 'EX', 3600);
      });
      await p.exec();
    }
    return numbers;
  }

  /** Fails early if the seeded codes would not verify (a changed hash layout would otherwise read as 400s). */
  async assertHashMatches(): Promise<void> {
    const [m] = await this.seed(1);
    const status = await once(this.stack.apiPort, {
      method: 'POST',
      path: '/otp/verify',
      headers: auth,
      body: { mobile_number: m, otp: CODE },
    });
    if (status !== 200)
      throw new Error(`a seeded OTP did not verify (${status}): the seeding no longer matches otp-code.ts`);
  }
}

/** The side-by-side row; returns the codes so that the fixed-rate rounds can use what is left. */
export async function otpVerify(sbs: SideBySide, stack: Stack): Promise<OtpCodes> {
  const codes = new OtpCodes(stack);
  await codes.assertHashMatches();
  // Enough codes for both sides of every round at up to 4,000 verifies/s (both answer about 2,000-2,500).
  if (selected('OTP verify')) await codes.ensure((2 * ROUNDS * SECONDS + 2) * 4000);
  await sbs.compare('OTP verify (success)', codes.verify, codes.verify);
  return codes;
}

/**
 * OTP verify at a fixed 500 req/s, side by side too (A B × 5, 3 s each): the p99 at a fixed load on this
 * machine has a floor of its own (scheduling on 2 shared cores, the load generator's pacing) that moves from
 * round to round: the baseline's own p99 read 9-30 ms in consecutive rounds. The median round of each side is
 * reported.
 */
export async function otpVerifyFixedRate(stack: Stack, codes: OtpCodes) {
  log('fixed rate: OTP verify at 500 req/s, service and baseline');
  await codes.ensure(16_000);
  // 10 connections: autocannon paces each connection on its own timer, so 50 connections at 500 req/s
  // arrive in bursts of 50 every 100 ms, which measures the bursts more than the service.
  const fixed = { seconds: 3, connections: 10, rate: 500 };
  const rounds = { service: [] as LoadResult[], baseline: [] as LoadResult[] };
  for (let i = 0; i < 5; i++) {
    rounds.baseline.push(await drive(stack.basePort, codes.verify, fixed));
    rounds.service.push(await drive(stack.apiPort, codes.verify, fixed));
    log(`  round ${i + 1}: p99 service ${rounds.service[i].p99} ms, baseline ${rounds.baseline[i].p99} ms`);
  }
  const side = (rs: LoadResult[]) => ({
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    p99_rounds: rs.map((r) => r.p99),
    requests: rs.reduce((n, r) => n + r.requests, 0),
    non2xx: sum(rs, 'non2xx'),
    errors: sum(rs, 'errors'),
  });
  return { service: side(rounds.service), baseline: side(rounds.baseline) };
}
