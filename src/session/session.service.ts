// Sessions: create, read (touch), merge context, delete, list and revoke a user's sessions; the TTL of every write
// comes from chooseTtl (session-ttl.ts). Reads and writes log nothing on success; creation, revocation and a
// corrupt value are logged, once each.
import { Injectable, Logger } from '@nestjs/common';
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppException } from '../common/app.exception';
import { idTag, maskPhonesIn } from '../common/mask';
import { AppConfig } from '../config/app-config';
import type { TouchResult } from './session-store';
import {
  MAX_CONTEXT_BYTES,
  mergeContext,
  newSessionId,
  parseSession,
  SessionRecord,
  serializeSession,
} from './session-record';
import { chooseTtl, provisionalTouchTtlMs, TtlPolicy } from './session-ttl';
import { SessionMetrics } from './session.metrics';
import { SessionRepository } from './session.repository';

const MAX_USER_AGENT = 512;
/** Merges racing on one session retry, with a jittered pause, this many times before answering 409. */
const MERGE_ATTEMPTS = 16;

export interface CreateSessionInput {
  userId: string;
  context?: Record<string, unknown>;
  /** Fixes the session's TTL (seconds) instead of the adaptive one; capped at SESSION_MAX_TTL_SECONDS. */
  ttlSeconds?: number;
  /** The end user's address and browser, shown in the user's session list. */
  ip?: string | null;
  userAgent?: string | null;
}

export interface SessionView {
  session_id: string;
  user_id: string;
  created_at: string;
  last_activity: string;
  context: Record<string, unknown>;
  /** Seconds until the session expires unless used again. */
  expires_in: number;
}

export interface SessionListItem {
  session_id: string;
  created_at: string;
  last_activity: string;
  expires_in: number;
  ip: string | null;
  user_agent: string | null;
}

export interface TokenClaims {
  sub: string;
  sid: string;
  jti: string;
  exp: number;
}

/** A short, one-way tag for a session id in logs (the id itself lets an API client read the session). */
export const sessionTag = idTag;
const iso = (ms: number) => new Date(ms).toISOString();
const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));
export const notFound = () =>
  new AppException(404, 'SESSION_NOT_FOUND', 'No such session, or it has expired');

@Injectable()
export class SessionService {
  private readonly logger = new Logger('Sessions');
  private readonly policy: TtlPolicy;

  constructor(
    private readonly repo: SessionRepository,
    private readonly metrics: SessionMetrics,
    config: AppConfig,
  ) {
    const s = config.sessions;
    this.policy = {
      defaultSec: s.ttlSec,
      activeSec: s.activeTtlSec,
      idleFloorSec: s.idleTtlSec,
      maxPerWriteSec: s.maxTtlSec,
      absoluteLifetimeSec: s.absoluteLifetimeSec,
      activeWindowSec: s.activeWindowSec,
    };
  }

  async create(input: CreateSessionInput): Promise<{ session_id: string; expires_in: number }> {
    const context = input.context ?? {};
    assertContextSize(context);
    const now = Date.now();
    const pinned =
      input.ttlSeconds === undefined ? undefined : Math.min(input.ttlSeconds, this.policy.maxPerWriteSec);
    const { ttlMs } = chooseTtl(this.policy, { now, createdAt: now, touch: true, pinnedSec: pinned });
    const id = newSessionId(input.userId);
    const record: SessionRecord = {
      last_activity: iso(now),
      ttl: pinned,
      user_id: input.userId,
      created_at: iso(now),
      context,
      ip: input.ip || null,
      user_agent: input.userAgent ? input.userAgent.slice(0, MAX_USER_AGENT) : null,
    };
    const store = await this.repo.create(id, input.userId, serializeSession(record), ttlMs);
    this.metrics.created.inc({ store });
    this.logger.log({ user: maskPhonesIn(input.userId), session: sessionTag(id), store }, 'session created');
    return { session_id: id, expires_in: seconds(ttlMs) };
  }

  /** Reads a session and refreshes its last_activity and TTL: one Redis round trip in the common case. */
  async get(id: string): Promise<SessionView> {
    const now = Date.now();
    const nowIso = iso(now);
    const touched = await this.repo.touch(id, nowIso, provisionalTouchTtlMs(this.policy));
    const view = await this.afterTouch(id, touched, now, nowIso);
    if (!view) throw notFound();
    return view;
  }

  /** Merges into the context (top-level keys; null removes a key). Not activity: last_activity stays. */
  async mergeContext(id: string, patch: Record<string, unknown>): Promise<SessionView> {
    for (let attempt = 0; attempt < MERGE_ATTEMPTS; attempt++) {
      const stored = await this.repo.read(id);
      if (!stored) throw notFound();
      const record = parseSession(stored.raw);
      if (!record) {
        await this.dropCorrupt(id);
        throw notFound();
      }
      const now = Date.now();
      const choice = chooseTtl(this.policy, {
        now,
        createdAt: Date.parse(record.created_at),
        lastActivity: Date.parse(record.last_activity),
        touch: false,
        pinnedSec: record.ttl,
        remainingMs: stored.ttlMs,
      });
      if (choice.reason === 'ended') {
        await this.repo.remove(id, record.user_id);
        throw notFound();
      }
      const next = { ...record, context: mergeContext(record.context, patch) };
      assertContextSize(next.context);
      const outcome = await this.repo.replace(id, stored.raw, serializeSession(next), choice.ttlMs);
      if (outcome === 'replaced') return view(id, next, choice.ttlMs);
      if (outcome === 'gone') throw notFound();
      // 'changed': another merge won the race; merge again into what is there now, after a short pause.
      await sleep(randomInt(1, 2 + Math.min(2 ** attempt, 50)));
    }
    throw new AppException(409, 'SESSION_BUSY', 'The session kept changing during the merge; try again');
  }

  /** Ends a session. Deleting one that does not exist is not an error (204 either way). */
  async delete(id: string): Promise<void> {
    if (await this.repo.remove(id)) {
      this.metrics.revoked.inc({ reason: 'deleted' });
      this.logger.log({ session: sessionTag(id) }, 'session revoked');
    }
  }

  /** A user's live sessions, most recently active first. Reading them does not touch them. */
  async list(userId: string): Promise<{ user_id: string; sessions: SessionListItem[] }> {
    const stored = await this.repo.listForUser(userId);
    const sessions: SessionListItem[] = [];
    for (const s of stored) {
      const r = parseSession(s.raw);
      if (!r) {
        await this.dropCorrupt(s.id);
        continue;
      }
      sessions.push({
        session_id: s.id,
        created_at: r.created_at,
        last_activity: r.last_activity,
        expires_in: seconds(s.ttlMs),
        ip: r.ip,
        user_agent: r.user_agent,
      });
    }
    sessions.sort((a, b) => b.last_activity.localeCompare(a.last_activity));
    return { user_id: userId, sessions };
  }

  /** Ends every session of a user, or all but `exceptId`; their access tokens stop working at once. */
  async revokeAll(userId: string, exceptId?: string): Promise<{ revoked: number }> {
    const revoked = await this.repo.removeForUser(userId, exceptId);
    if (revoked) {
      this.metrics.revoked.inc({ reason: 'revoke_all' }, revoked);
      this.logger.log(
        { user: maskPhonesIn(userId), count: revoked, kept_one: exceptId !== undefined },
        'sessions revoked',
      );
    }
    return { revoked };
  }

  /**
   * For the access-token guard: the token is not deny-listed and its session still exists (and belongs to the
   * token's subject). Using a token is activity, so the session is touched: one round trip for both checks.
   */
  async authenticate(claims: TokenClaims): Promise<SessionView> {
    const now = Date.now();
    const nowIso = iso(now);
    const { denied, session } = await this.repo.authenticate(
      claims.jti,
      claims.sid,
      nowIso,
      provisionalTouchTtlMs(this.policy),
    );
    if (denied) throw new AppException(401, 'TOKEN_REVOKED', 'This access token was revoked');
    const found = await this.afterTouch(claims.sid, session, now, nowIso);
    if (!found) throw new AppException(401, 'SESSION_ENDED', 'The session of this access token has ended');
    if (found.user_id !== claims.sub) {
      throw new AppException(401, 'TOKEN_INVALID', 'This access token does not match its session');
    }
    return found;
  }

  /** Logout: the token is deny-listed until its own expiry and its session is deleted, together. */
  async logout(claims: TokenClaims): Promise<void> {
    const denyMs = Math.max(1000, claims.exp * 1000 - Date.now());
    await this.repo.revokeToken(claims.jti, denyMs, claims.sid, claims.sub);
    this.metrics.tokensRevoked.inc({ reason: 'logout' });
    this.metrics.revoked.inc({ reason: 'logout' });
    this.logger.log({ user: maskPhonesIn(claims.sub), session: sessionTag(claims.sid) }, 'session revoked');
  }

  /** The service's side of a touch: the TTL the policy wants (corrected when the provisional one differs). */
  private async afterTouch(
    id: string,
    touched: TouchResult | null,
    now: number,
    nowIso: string,
  ): Promise<SessionView | null> {
    if (!touched) return null;
    const record = parseSession(touched.raw);
    if (!record) {
      await this.dropCorrupt(id);
      return null;
    }
    const choice = chooseTtl(this.policy, {
      now,
      createdAt: Date.parse(record.created_at),
      lastActivity: Date.parse(record.last_activity),
      touch: true,
      pinnedSec: record.ttl,
    });
    if (choice.reason === 'ended') {
      await this.repo.remove(id, record.user_id);
      return null;
    }
    const updated = { ...record, last_activity: nowIso }; // what the touch script wrote
    if (touched.appliedTtlMs === 0) {
      // Valid, but not in the layout the touch script splices into (written by hand?): rewrite it in ours.
      await this.repo.replace(id, touched.raw, serializeSession(updated), choice.ttlMs);
    } else if (choice.ttlMs !== touched.appliedTtlMs) {
      await this.repo.expire(id, choice.ttlMs);
    }
    return view(id, updated, choice.ttlMs);
  }

  /** A value that is not a session cannot be served: it is logged once and deleted, and reads answer 404. */
  private async dropCorrupt(id: string): Promise<void> {
    this.logger.warn({ session: sessionTag(id) }, 'session key holds a value that is not a session; deleted');
    await this.repo.remove(id).catch(() => undefined);
  }
}

function view(id: string, r: SessionRecord, ttlMs: number): SessionView {
  return {
    session_id: id,
    user_id: r.user_id,
    created_at: r.created_at,
    last_activity: r.last_activity,
    context: r.context,
    expires_in: seconds(ttlMs),
  };
}

function assertContextSize(context: Record<string, unknown>): void {
  if (Buffer.byteLength(JSON.stringify(context)) > MAX_CONTEXT_BYTES) {
    throw new AppException(
      400,
      'CONTEXT_TOO_LARGE',
      `A session context holds at most ${MAX_CONTEXT_BYTES} bytes of JSON`,
    );
  }
}
