// The onboarding background jobs on the real Redis and Postgres: abuse detector, monitor-logger, warm-up,
// settings across replicas.
import { DataSource } from 'typeorm';
import { AbuseDetectorTask } from '../../src/onboarding/abuse-detector.task';
import { auditEvent } from '../../src/onboarding/audit-event';
import { MonitorLoggerTask } from '../../src/onboarding/monitor-logger.task';
import { OnboardingRepository } from '../../src/onboarding/onboarding.repository';
import { RedisKeys } from '../../src/redis/redis-keys';
import { Heartbeats } from '../../src/workers/heartbeats';
import { JobLock } from '../../src/workers/job-lock';
import { ScheduledJobName } from '../../src/workers/job-catalogue';
import { JobScheduler } from '../../src/workers/job-scheduler';
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';
import { numberKeys } from '../helpers/number-keys';

describe('onboarding background jobs', () => {
  let t: TestApp;
  let db: DataSource;
  let repo: OnboardingRepository;

  beforeAll(async () => {
    // APP_ROLE=all: API and worker in one process (the scheduler's own timers use long intervals here).
    t = await startTestApp(
      {
        ABUSE_THRESHOLD: '3',
        ABUSE_CHECK_INTERVAL: '3600',
        MONITOR_LOG_INTERVAL: '3600',
        MONITOR_BATCH_SIZE: '100',
        DB_STATEMENT_TIMEOUT_MS: '500',
      },
      { role: 'all' },
    );
    db = t.app.get(DataSource);
    repo = t.app.get(OnboardingRepository);
    // The worker side ran its first ticks at start; the tests drive ticks themselves from here on.
    await t.app.get(JobScheduler).idle();
    await numberKeys(t.redis).clearAudit();
  });
  afterAll(() => t.close());

  const sms = (mobile_number: string, message: string) =>
    t.request({ method: 'POST', url: '/onboard/sms', payload: { mobile_number, message } });

  describe('abuse detector', () => {
    it('blacklists a number past the threshold from onboarding only, for ABUSE_BLACKLIST_TTL', async () => {
      const mobile = randomMobile();
      const quiet = randomMobile();
      for (let i = 0; i < 4; i++) await sms(mobile, 'ONBOARD X');
      await sms(quiet, 'ONBOARD X');
      const summary = await t.app.get(AbuseDetectorTask).tick();
      expect(summary).toMatch(/1 newly blacklisted/);

      // An automatic entry: an expiring key of its own, not the manual set that also blocks OTP and messages.
      expect(await numberKeys(t.redis).blacklisted(mobile)).toBe(0);
      const ttl = await t.redis.pttl(RedisKeys.autoBlacklisted(mobile));
      expect(ttl).toBeGreaterThan(86_000_000);
      expect(ttl).toBeLessThanOrEqual(86_400_000);
      expect(await t.redis.exists(RedisKeys.autoBlacklisted(quiet))).toBe(0);
      expect(await numberKeys(t.redis).candidates()).toBe(0);
      const [row] = await db.query(
        `SELECT source, reason, extract(epoch FROM expires_at - created_at)::int AS lasts FROM blacklist_sms
         WHERE mobile_number = $1`,
        [mobile],
      );
      expect(row).toMatchObject({ source: 'auto', lasts: 86400 });
      const counts = await db.query('SELECT count FROM count_sms WHERE mobile_number = $1', [mobile]);
      expect(counts).toEqual([{ count: 4 }]);

      const reg = await t.request({ url: `/onboard/register/${mobile}` });
      expect(reg.statusCode).toBe(403);
      expect((await sms(mobile, 'ONBOARD X')).json()).toMatchObject({
        status: 'rejected',
        reason: 'blacklisted',
      });
      // It never locks the person out of login or messages: a spoofed sender cannot turn it against them.
      const otp = await t.request({
        method: 'POST',
        url: '/otp/send',
        payload: { mobile_number: mobile, channel: 'sms' },
      });
      expect(otp.statusCode).toBe(200);
      const msg = await t.request({
        method: 'POST',
        url: '/api/v1/messages/send',
        payload: { to: mobile, type: 'sms', body: 'hi' },
      });
      expect(msg.statusCode).toBe(202);
      const listed: any = (await t.request({ url: '/admin/blacklist?limit=500', as: 'admin' })).json();
      const entry = listed.items.find((i: any) => i.mobile_number === mobile);
      expect(entry).toMatchObject({ source: 'auto', expires_at: expect.any(String) });
      // Gone by itself once its time is up (here: the key expires; Postgres no longer lists it either).
      await t.redis.pexpire(RedisKeys.autoBlacklisted(mobile), 1);
      await db.query(
        `UPDATE blacklist_sms SET expires_at = now() - interval '1 second' WHERE mobile_number = $1`,
        [mobile],
      );
      await new Promise((r) => setTimeout(r, 20));
      await t.redis.del(RedisKeys.abuseCounter(mobile));
      expect((await t.request({ url: `/onboard/register/${mobile}` })).statusCode).toBe(200);
      const after: any = (await t.request({ url: '/admin/blacklist?limit=500', as: 'admin' })).json();
      expect(after.items.map((i: any) => i.mobile_number)).not.toContain(mobile);
    });

    it('lets a manual entry block onboarding, OTP and messages until an admin removes it, and outrank an automatic one', async () => {
      const mobile = randomMobile();
      await t.request({
        method: 'PUT',
        url: `/admin/blacklist/${mobile}`,
        payload: { reason: 'fraud' },
        as: 'admin',
      });
      expect((await t.request({ url: `/onboard/register/${mobile}` })).statusCode).toBe(403);
      const otp = await t.request({
        method: 'POST',
        url: '/otp/send',
        payload: { mobile_number: mobile, channel: 'sms' },
      });
      expect(otp.json()).toMatchObject({ statusCode: 403, code: 'BLACKLISTED' });
      const msg = await t.request({
        method: 'POST',
        url: '/api/v1/messages/send',
        payload: { to: mobile, type: 'sms', body: 'hi' },
      });
      expect(msg.json()).toMatchObject({ statusCode: 403, code: 'BLACKLISTED' });
      // E-mail has no number: unaffected.
      const mail = await t.request({
        method: 'POST',
        url: '/api/v1/messages/send',
        payload: { to: 'someone@example.com', type: 'email', subject: 's', body: 'hi' },
      });
      expect(mail.statusCode).toBe(202);
      // The abuse detector listing it again does not turn it into an expiring entry.
      await repo.upsertBlacklist([{ mobile, reason: 'auto', source: 'auto' }], 60);
      const [row] = await db.query('SELECT source, expires_at FROM blacklist_sms WHERE mobile_number = $1', [
        mobile,
      ]);
      expect(row).toEqual({ source: 'manual', expires_at: null });
      const entry = (
        (await t.request({ url: '/admin/blacklist?limit=500', as: 'admin' })).json() as any
      ).items.find((i: any) => i.mobile_number === mobile);
      expect(entry).toMatchObject({ source: 'manual', expires_at: null, reason: 'fraud' });
      await t.request({ method: 'DELETE', url: `/admin/blacklist/${mobile}`, as: 'admin' });
    });

    it('lets a manual entry stop a message accepted before it (scheduled), which then never leaves', async () => {
      const mobile = randomMobile();
      const sendAt = new Date(Date.now() + 1500).toISOString();
      const accepted = await t.request({
        method: 'POST',
        url: '/api/v1/messages/send',
        payload: { to: mobile, type: 'sms', body: 'later', send_at: sendAt },
      });
      expect(accepted.statusCode).toBe(202);
      await t.request({ method: 'PUT', url: `/admin/blacklist/${mobile}`, payload: {}, as: 'admin' });
      const id = accepted.json().id;
      let message: any;
      for (let i = 0; i < 100; i++) {
        message = (await t.request({ url: `/api/v1/messages/${id}` })).json();
        if (message.status === 'failed' || message.status === 'sent' || message.status === 'delivered') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(message).toMatchObject({ status: 'failed', error: 'BLACKLISTED' });
      await t.request({ method: 'DELETE', url: `/admin/blacklist/${mobile}`, as: 'admin' });
      expect(
        (
          await t.request({
            method: 'POST',
            url: '/otp/send',
            payload: { mobile_number: mobile, channel: 'sms' },
          })
        ).statusCode,
      ).toBe(200);
    });

    it('blacklists once when two detector instances tick at the same time', async () => {
      const mobile = randomMobile();
      for (let i = 0; i < 5; i++) await sms(mobile, 'ONBOARD X');
      const handler = t.app.get(AbuseDetectorTask);
      const task = {
        spec: { name: ScheduledJobName.AbuseDetector, intervalSeconds: 60 },
        tick: () => handler.tick(),
      };
      const replicas = [0, 1].map(
        () => new JobScheduler({} as any, t.app.get(JobLock), t.app.get(Heartbeats), {} as any, t.config),
      );
      const now = Date.now() + 7 * 3600_000; // a slot of its own
      const ran = await Promise.all(replicas.map((r) => r.runTick(task, now)));
      expect(ran.filter(Boolean)).toHaveLength(1);
      // Even two ticks racing without the lock list the number once.
      await Promise.all([task.tick(), task.tick()]);
      expect(await db.query('SELECT 1 FROM blacklist_sms WHERE mobile_number = $1', [mobile])).toHaveLength(
        1,
      );
      const events = (await numberKeys(t.redis).auditEvents())
        .map((e) => JSON.parse(e))
        .filter((e) => e.mobile_number === mobile && e.event_type === 'blacklist');
      expect(events).toHaveLength(1);
    });

    it('costs nothing for counters that never crossed the threshold', async () => {
      const p = t.redis.pipeline();
      for (let i = 0; i < 2000; i++)
        p.set(RedisKeys.abuseCounter(`+9190000${String(i).padStart(5, '0')}`), '2', 'EX', 600);
      await p.exec();
      expect(await t.app.get(AbuseDetectorTask).tick()).toBeUndefined(); // nothing to look at, no SCAN
    });
  });

  describe('monitor-logger', () => {
    const logger = () => t.app.get(MonitorLoggerTask);
    const rowsFor = async (ids: string[]) =>
      Number(
        (
          await db.query('SELECT count(*)::int AS n FROM sms_monitor WHERE event_id = ANY($1::uuid[])', [ids])
        )[0].n,
      );

    it('drains 10,000 events in one tick, in batches', async () => {
      const events = Array.from({ length: 10_000 }, (_, i) =>
        auditEvent('register', randomMobile(), 'created', { details: { i } }),
      );
      for (let i = 0; i < events.length; i += 1000) await repo.pushAudit(...events.slice(i, i + 1000));
      const summary = String(await logger().tick());
      expect(Number(/moved (\d+) event/.exec(summary)?.[1])).toBeGreaterThanOrEqual(10_000); // plus earlier tests' events
      expect(await numberKeys(t.redis).auditBacklog()).toBe(0);
      expect(await rowsFor(events.map((e) => e.event_id))).toBe(10_000);
    });

    it('loses nothing when Postgres fails during a tick, and writes nothing twice', async () => {
      const events = Array.from({ length: 250 }, () =>
        auditEvent('inbound_sms', randomMobile(), 'rejected', { reason: 'hash_mismatch' }),
      );
      await repo.pushAudit(...events);
      // A batch that reached Postgres before the process died (not yet trimmed from Redis).
      await repo.insertAudit(events.slice(0, 100));

      // Postgres refuses writes for a tick: the table is locked past the statement timeout.
      const blocker = db.createQueryRunner();
      await blocker.connect();
      await blocker.startTransaction();
      await blocker.query('LOCK TABLE sms_monitor IN ACCESS EXCLUSIVE MODE');
      await expect(logger().tick()).rejects.toThrow();
      await blocker.rollbackTransaction();
      await blocker.release();
      expect(await numberKeys(t.redis).auditBacklog()).toBe(250);

      await logger().tick();
      expect(await numberKeys(t.redis).auditBacklog()).toBe(0);
      expect(await rowsFor(events.map((e) => e.event_id))).toBe(250);
    });

    it('records verified numbers in out_sms from their events, and skips unreadable events', async () => {
      const mobile = randomMobile();
      await repo.pushAudit(auditEvent('inbound_sms', mobile, 'verified', { details: { sms_id: 'x1' } }));
      await numberKeys(t.redis).pushAudit(['not json', '{"event_id":"nope"}']);
      await logger().tick();
      expect(await db.query('SELECT sms_id FROM out_sms WHERE mobile_number = $1', [mobile])).toEqual([
        { sms_id: 'x1' },
      ]);
      expect(await numberKeys(t.redis).auditBacklog()).toBe(0);
    });
  });

  describe('admin', () => {
    it('lists the blacklist with a cursor, and removes a number from Postgres and Redis together', async () => {
      const mobiles = [randomMobile(), randomMobile(), randomMobile()];
      for (const m of mobiles) {
        expect(
          (await t.request({ method: 'PUT', url: `/admin/blacklist/${m}`, payload: {}, as: 'admin' }))
            .statusCode,
        ).toBe(200);
      }
      const seen: string[] = [];
      let cursor: string | null = '';
      while (cursor !== null) {
        const page: any = (
          await t.request({
            url: `/admin/blacklist?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
            as: 'admin',
          })
        ).json();
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items.map((i: any) => i.mobile_number));
        cursor = page.next_cursor;
      }
      for (const m of mobiles) expect(seen).toContain(m);
      expect(new Set(seen).size).toBe(seen.length);

      const del = await t.request({ method: 'DELETE', url: `/admin/blacklist/${mobiles[0]}`, as: 'admin' });
      expect(del.statusCode).toBe(204);
      expect(await numberKeys(t.redis).blacklisted(mobiles[0])).toBe(0);
      expect(
        await db.query('SELECT 1 FROM blacklist_sms WHERE mobile_number = $1', [mobiles[0]]),
      ).toHaveLength(0);
      expect(
        (await t.request({ method: 'DELETE', url: `/admin/blacklist/${mobiles[0]}`, as: 'admin' }))
          .statusCode,
      ).toBe(404);
      expect((await t.request({ url: `/admin/blacklist`, as: 'client' })).statusCode).toBe(403);
    });

    it('updates settings, which another replica picks up at once', async () => {
      const other = await startTestApp({ REDIS_KEY_PREFIX: t.config.redis.keyPrefix });
      try {
        const put = await t.request({
          method: 'PUT',
          url: '/admin/settings',
          payload: { salt_length: 14, permitted_headers: ['GEO', 'ONBOARD'] },
          as: 'admin',
        });
        expect(put.statusCode).toBe(200);
        expect(put.json()).toMatchObject({
          salt_length: 14,
          permitted_headers: ['GEO', 'ONBOARD'],
          abuse_threshold: 3,
        });
        // The other replica hears about it through pub/sub.
        const deadline = Date.now() + 5000;
        let hash = '';
        while (Date.now() < deadline) {
          hash = (await other.request({ url: `/onboard/register/${randomMobile()}` })).json().hash;
          if (hash.length === 14) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(hash).toHaveLength(14);
        expect(
          (
            await t.request({
              method: 'PUT',
              url: '/admin/settings',
              payload: { salt_length: 4 },
              as: 'admin',
            })
          ).statusCode,
        ).toBe(400);
      } finally {
        await t.request({
          method: 'PUT',
          url: '/admin/settings',
          payload: { salt_length: 10, permitted_headers: ['ONBOARD'] },
          as: 'admin',
        });
        await other.app.close();
      }
    });
  });
});
