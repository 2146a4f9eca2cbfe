// Register at a fixed 1,000 req/s for BENCH_SOAK_SECONDS: its latency, and the API's memory over time.
import { fresh, log, SOAK_SECONDS } from '../lib/context';
import { drive, median } from '../lib/load';
import type { Stack } from '../lib/stack';
import { registerRequest } from './register';

export async function soak(stack: Stack) {
  log(`soak: register at 1,000 req/s for ${SOAK_SECONDS} s (latency and memory)`);
  const { api } = stack;
  const rssStart = api.rssMb();
  const samples: number[] = [];
  const timer = setInterval(() => samples.push(api.rssMb()), 1000);
  const load = await drive(stack.apiPort, () => registerRequest(fresh()), {
    seconds: SOAK_SECONDS,
    connections: 10,
    rate: 1000,
  });
  clearInterval(timer);
  const q = Math.max(1, Math.floor(samples.length / 4));
  return {
    load,
    summary: {
      seconds: SOAK_SECONDS,
      requests: load.requests,
      non2xx: load.non2xx,
      rss_start_mb: rssStart,
      rss_first_quarter_mb: median(samples.slice(0, q)),
      rss_last_quarter_mb: median(samples.slice(-q)),
      rss_max_mb: Math.max(...samples),
      peak_rss_mb: api.peakRssMb(),
    },
  };
}
