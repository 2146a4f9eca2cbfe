import type { MessageStatusService, ProviderReport } from '../message-status.service';
import type { MessagesRepository } from '../messages.repository';
import type { RedisClient } from '../../redis/redis.constants';
import { ProviderReports, REPORTS_AT_ONCE } from './provider-reports';

/** A status service that takes a millisecond per report and notes the order and the overlap. */
function fakeStatus(failOn?: (r: ProviderReport) => boolean) {
  const applied: ProviderReport[] = [];
  let inFlight = 0;
  let most = 0;
  const status = {
    providerReport: async (r: ProviderReport) => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 1));
      inFlight--;
      if (failOn?.(r)) throw new Error('Postgres is away');
      applied.push(r);
      return {};
    },
  };
  const reports = new ProviderReports(
    status as unknown as MessageStatusService,
    {} as MessagesRepository,
    {} as RedisClient,
  );
  return { reports, applied, most: () => most };
}

const report = (id: string, n: number): ProviderReport => ({
  provider: 'msg91',
  providerMessageId: id,
  status: 'delivered',
  detail: { n },
});

describe('ProviderReports.recordAll (attack 18 F13: a 3,000-report webhook took 7 s)', () => {
  // 40 ids, 5 reports each, interleaved as a webhook may hold them.
  const many = Array.from({ length: 200 }, (_, i) => report(`req-${i % 40}`, Math.floor(i / 40)));

  it('applies different ids side by side, at most REPORTS_AT_ONCE at a time', async () => {
    const { reports, applied, most } = fakeStatus();
    await reports.recordAll(many);
    expect(applied).toHaveLength(200);
    expect(most()).toBe(REPORTS_AT_ONCE);
  });

  it("keeps one id's reports in the order given, one after another", async () => {
    const { reports, applied } = fakeStatus();
    await reports.recordAll(many);
    for (let i = 0; i < 40; i++)
      expect(applied.filter((r) => r.providerMessageId === `req-${i}`).map((r) => r.detail!.n)).toEqual([
        0, 1, 2, 3, 4,
      ]);
  });

  it("throws the first failure, leaving the failed id's later reports unapplied", async () => {
    const { reports, applied } = fakeStatus((r) => r.providerMessageId === 'req-3' && r.detail!.n === 1);
    await expect(reports.recordAll(many)).rejects.toThrow('Postgres is away');
    expect(applied.filter((r) => r.providerMessageId === 'req-3').map((r) => r.detail!.n)).toEqual([0]);
  });
});
