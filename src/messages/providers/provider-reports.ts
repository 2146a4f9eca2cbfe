// Where providers' delivery reports come in (SMPP receipts, MSG91 webhooks): each goes to the status service,
// the one owner of status. A report may come before the message records the provider's id for it (an SMSC
// sends the receipt right after submit_sm_resp, while the worker is still writing that id; a webhook can beat
// the HTTP answer). Such a report is parked in Redis and applied when a message reaches `sent` with that id,
// so it is stored before the provider is answered and never lost to the race.
import { Inject, Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { REDIS, RedisClient } from '../../redis/redis.constants';
import { RedisKeys } from '../../redis/redis-keys';
import {
  MESSAGE_STATUS_CHANGED,
  MessageStatusChanged,
  MessageStatusService,
  ProviderReport,
} from '../message-status.service';
import { MessagesRepository } from '../messages.repository';

/** How long a report for an id no message carries is kept: far longer than a send takes to be recorded. */
export const EARLY_REPORT_TTL_SECONDS = 3600;

/** Providers whose reports may be parked: only their `sent` messages are looked up in Redis. */
const PARKING_PROVIDERS = new Set(['smpp', 'msg91']);

export type ReportOutcome = 'applied' | 'unchanged' | 'parked';

/**
 * Reports of one webhook applied at the same time, at most: enough for their transitions to share statements
 * (MessagesRepository batches them), few enough to leave the pool to the rest of the service.
 */
export const REPORTS_AT_ONCE = 16;

@Injectable()
export class ProviderReports {
  private readonly logger = new Logger('ProviderReports');

  constructor(
    private readonly status: MessageStatusService,
    private readonly repo: MessagesRepository,
    @Inject(REDIS) private readonly redis: RedisClient,
  ) {}

  /**
   * Stores a provider's report: applied to its message (forward only), found to change nothing (late or
   * repeated), or parked until a message records the id. Throws only when it could be neither applied nor
   * parked (Postgres or Redis unavailable): the caller answers the provider with an error so it reports again.
   */
  async record(r: ProviderReport): Promise<ReportOutcome> {
    if (await this.status.providerReport(r)) return 'applied';
    // The message may have recorded the id since the report looked for it: then once more (forward only, so a
    // report that is late or repeated changes nothing).
    if (await this.known(r)) return (await this.status.providerReport(r)) ? 'applied' : 'unchanged';
    const key = RedisKeys.earlyProviderReports(r.provider, r.providerMessageId);
    await this.redis
      .multi()
      .rpush(key, JSON.stringify(r))
      .expire(key, EARLY_REPORT_TTL_SECONDS)
      .exec()
      .then((replies) => {
        const failed = replies?.find(([err]) => err);
        if (!replies || failed) throw failed?.[0] ?? new Error('the report was not parked');
      });
    // The message may have recorded the id between the look-up above and the park: then its `sent` event
    // looked in Redis too early, so the parked reports are claimed here (claiming is atomic: applied once).
    if (await this.known(r)) await this.claim(r.provider, r.providerMessageId);
    return 'parked';
  }

  /**
   * Many reports (one webhook's): those on one provider id one after another in the order given, so the
   * forward-only rule sees them as the provider sent them; different ids side by side, REPORTS_AT_ONCE at
   * most (one at a time, a 3,000-report webhook took 7 s). After a failure no further id is started and the
   * id's later reports are not applied; the first failure is thrown once the ids under way have finished,
   * and the provider sends the whole webhook again (a report applied twice changes nothing).
   */
  async recordAll(reports: ProviderReport[]): Promise<void> {
    const byId = new Map<string, ProviderReport[]>();
    for (const r of reports) {
      const key = `${r.provider}\n${r.providerMessageId}`;
      const same = byId.get(key);
      if (same) same.push(r);
      else byId.set(key, [r]);
    }
    const ids = [...byId.values()];
    let next = 0;
    let failure: { err: unknown } | undefined;
    const lane = async () => {
      while (!failure && next < ids.length) {
        const same = ids[next++];
        try {
          for (const r of same) await this.record(r);
        } catch (err) {
          failure ??= { err };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(REPORTS_AT_ONCE, ids.length) }, lane));
    if (failure) throw failure.err;
  }

  /** A message just recorded a provider's id: the reports that came before it are applied now, in order. */
  @OnEvent(MESSAGE_STATUS_CHANGED, { promisify: true })
  async onStatusChanged({ message: m }: MessageStatusChanged): Promise<void> {
    if (m.status !== 'sent' || !m.provider || !m.provider_message_id) return;
    if (!PARKING_PROVIDERS.has(m.provider)) return;
    try {
      await this.claim(m.provider, m.provider_message_id);
    } catch (err) {
      // Left parked: the next report for the id, or the one that parks, claims them again.
      this.logger.warn(`early ${m.provider} reports for ${m.id} not applied: ${(err as Error).message}`);
    }
  }

  private async claim(provider: string, providerMessageId: string): Promise<void> {
    const key = RedisKeys.earlyProviderReports(provider, providerMessageId);
    const replies = await this.redis.multi().lrange(key, 0, -1).del(key).exec();
    const parked = (replies?.[0]?.[1] as string[] | undefined) ?? [];
    for (const raw of parked) await this.status.providerReport(JSON.parse(raw) as ProviderReport);
  }

  private async known(r: ProviderReport): Promise<boolean> {
    if (await this.repo.findByProviderId(r.provider, r.providerMessageId)) return true;
    return !!(r.messageId && /^[0-9a-f-]{36}$/i.test(r.messageId) && (await this.repo.find(r.messageId)));
  }
}
