// The move from the earlier key layout (untagged per-number keys, one onboarded set, one blacklist set, one
// audit list, one session expiry set) to the bucketed one (redis-keys.ts), once, at start-up, before the
// warm-up. Only standalone Redis can hold the earlier layout: on a cluster it needed a hash-tagged prefix, which
// is refused now, so a cluster starts on a fresh keyspace. docs/scaling.md lists what moves and what does not.
import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { trimAuditScript } from '../onboarding/onboarding.scripts';
import { numberOffset, RedisKeys, sessionBucket } from './redis-keys';

/** Set once the keyspace holds nothing of the earlier layout. */
const DONE = 'layout:v3';
const LOCK = 'layout:migrating';
/** The lock's lease, renewed every third of it while the move runs. */
const LOCK_MS = 15_000;
const PAGE = 500;

/** Old key (after the prefix) → new key, for the keys that move as they are (RENAME keeps the TTL). */
function renamed(key: string): string | null | undefined {
  const after = (head: string) => (key.startsWith(head) ? key.slice(head.length) : null);
  let rest: string | null;
  if ((rest = after('onboard_hash:'))) return RedisKeys.onboardHash(rest);
  if ((rest = after('abuse_counter:'))) return RedisKeys.abuseCounter(rest);
  if ((rest = after('blacklist_auto:'))) return RedisKeys.autoBlacklisted(rest);
  if ((rest = after('blacklist_admin_change:'))) return RedisKeys.blacklistChangedByAdmin(rest);
  if ((rest = after('otp:attempts:'))) return RedisKeys.otpAttempts(rest);
  if ((rest = after('otp:status:'))) return RedisKeys.otpStatus(rest);
  if ((rest = after('otp:'))) return RedisKeys.otp(rest);
  if ((rest = after('rate_limit:otp_budget:'))) return RedisKeys.otpHourlyBudget(rest);
  if ((rest = after('rate_limit:otp_send:'))) return RedisKeys.otpSendsPerNumber(rest);
  if ((rest = after('rate_limit:')) && !rest.startsWith('{')) {
    const colon = rest.indexOf(':');
    return colon > 0 ? RedisKeys.rateLimit(rest.slice(0, colon), rest.slice(colon + 1)) : null;
  }
  if ((rest = after('user:verification:'))) return RedisKeys.userVerification(rest);
  if ((rest = after('session:')) && /^[0-9a-f]{32}$/.test(rest)) return RedisKeys.session(rest);
  if ((rest = after('user_sessions:'))) return RedisKeys.userSessions(rest);
  // Gone rather than moved: a revoked token's entry (its session was deleted with it, so the token is refused
  // anyway), heartbeats and circuits (rewritten within seconds), caches, the old warm-up marker.
  if (/^(blacklist:token:|worker:heartbeat:|circuit:|cache:[^{]|warmup:onboarding_sets:)/.test(key))
    return null;
  return undefined; // not of the earlier layout
}

export class LayoutMigration {
  private readonly logger = new Logger('RedisLayout');

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /**
   * Moves the earlier layout's keys unless done before. One replica moves them under a lock it renews while it
   * works; the others wait while the lock is held, and take over if its holder died (the lock lapses).
   */
  async run(): Promise<void> {
    for (;;) {
      if ((await this.redis.exists(DONE)) === 1) return;
      if ((await this.redis.set(LOCK, '1', 'PX', LOCK_MS, 'NX')) === 'OK') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const renew = setInterval(
      () => void this.redis.pexpire(LOCK, LOCK_MS).catch(() => undefined),
      LOCK_MS / 3,
    );
    try {
      const started = Date.now();
      const moved = await this.migrate();
      await this.redis.set(DONE, new Date().toISOString());
      if (moved)
        this.logger.log(
          `moved ${moved} key(s) of the earlier layout into buckets (${Date.now() - started} ms)`,
        );
    } finally {
      clearInterval(renew);
      await this.redis.del(LOCK);
    }
  }

  private async migrate(): Promise<number> {
    let moved = await moveLegacyAuditQueue(this.redis);
    // The sets: each member's bit (the warm-up also rebuilds them from Postgres; an onboarding whose event has
    // not reached Postgres yet is kept this way).
    moved += await this.eachMember('out_sms_numbers', (p, m) =>
      p.setbit(RedisKeys.onboardedFlags(m), numberOffset(m), 1),
    );
    moved += await this.eachMember('blacklist_mobiles', (p, m) =>
      p.setbit(RedisKeys.blacklistFlags(m), numberOffset(m), 1),
    );
    moved += await this.eachMember('abuse_candidates', (p, m) => p.sadd(RedisKeys.abuseCandidatesOf(m), m));
    // Session expiries: each entry into its session's bucket.
    for (;;) {
      const page = await this.redis.zrange('session_expiry', 0, PAGE - 1, 'WITHSCORES');
      if (!page.length) break;
      const p = this.redis.pipeline();
      for (let i = 0; i < page.length; i += 2) {
        p.zadd(RedisKeys.sessionExpiries(sessionBucket(page[i])), page[i + 1], page[i]);
        p.zrem('session_expiry', page[i]);
      }
      await p.exec();
      moved += page.length / 2;
    }
    // Every other key of the earlier layout, renamed (or dropped).
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}*`, 'COUNT', 1000);
      cursor = next;
      const p = this.redis.pipeline();
      for (const full of keys) {
        const key = full.slice(this.prefix.length);
        const to = renamed(key);
        if (to === undefined) continue;
        if (to === null) p.del(key);
        else p.rename(key, to);
        moved++;
      }
      await p.exec(); // a key gone meanwhile (expired) fails its RENAME alone
    } while (cursor !== '0');
    return moved;
  }

  private async eachMember(
    set: string,
    write: (p: ReturnType<Redis['pipeline']>, member: string) => void,
  ): Promise<number> {
    let n = 0;
    let cursor = '0';
    do {
      const [next, members] = await this.redis.sscan(set, cursor, 'COUNT', PAGE);
      cursor = next;
      const p = this.redis.pipeline();
      for (const m of members) write(p, m);
      await p.exec();
      n += members.length;
    } while (cursor !== '0');
    await this.redis.del(set);
    return n;
  }
}

/**
 * The earlier audit list: every event into its number's bucket queue, then off the old list, but only if the
 * list still starts with the page read: several movers may run at once (this start-up move, a monitor-logger
 * tick, an earlier version's worker draining the list itself), and each trims only what it copied, or nothing.
 * A page copied twice, or copied and also drained by the earlier worker, is written once by the monitor-logger
 * (event_id is unique); a crash between the copy and the trim repeats the page the same way. Also run by every
 * monitor-logger tick on standalone Redis, for the events an earlier version's replica still appends.
 */
export async function moveLegacyAuditQueue(redis: Redis): Promise<number> {
  let moved = 0;
  for (;;) {
    const page = await redis.lrange(LEGACY_AUDIT_QUEUE, 0, PAGE - 1);
    if (!page.length) return moved;
    const p = redis.pipeline();
    for (const raw of page) p.rpush(RedisKeys.auditQueueOf(mobileOf(raw)), raw);
    await p.exec();
    if ((await trimAuditScript.run(redis, [LEGACY_AUDIT_QUEUE], [page[0], page.length])) === 1)
      moved += page.length;
  }
}

const LEGACY_AUDIT_QUEUE = 'sms_monitor_queue';

function mobileOf(raw: string): string | null {
  try {
    const m = (JSON.parse(raw) as { mobile_number?: unknown }).mobile_number;
    return typeof m === 'string' && /^\+\d{8,15}$/.test(m) ? m : null;
  } catch {
    return null;
  }
}
