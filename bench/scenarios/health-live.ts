// The HTTP floor: GET /health/live, which checks nothing, on the service and the baseline.
import type { Req } from '../lib/load';
import type { SideBySide } from '../lib/side-by-side';

export async function healthLive(sbs: SideBySide) {
  const live = (): Req => ({ path: '/health/live' });
  await sbs.compare('GET /health/live', live, live);
}
