/**
 * Fixed-window counters in this process's memory: what the rate limits fall back to while Redis is unreachable,
 * so an outage degrades every limit to "per replica" instead of "none". Bounded: at most `maxKeys` windows are
 * kept; expired ones are swept when the map is full, and then the oldest tenth goes.
 */
export class LocalWindows {
  private readonly windows = new Map<string, { n: number; resetAt: number }>();

  constructor(private readonly maxKeys = 100_000) {}

  /** Adds `points` (0 only reads) to the key's window, started at its first request: [count, ms left]. */
  count(key: string, points: number, windowSeconds: number, now = Date.now()): [number, number] {
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      if (points === 0) return [0, 0];
      if (!w && this.windows.size >= this.maxKeys) this.sweep(now);
      w = { n: 0, resetAt: now + windowSeconds * 1000 };
      this.windows.set(key, w);
    }
    w.n += points;
    return [w.n, w.resetAt - now];
  }

  get size(): number {
    return this.windows.size;
  }

  private sweep(now: number): void {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k);
    if (this.windows.size < this.maxKeys) return;
    let drop = Math.ceil(this.maxKeys / 10);
    for (const k of this.windows.keys()) {
      if (drop-- <= 0) break;
      this.windows.delete(k);
    }
  }
}
