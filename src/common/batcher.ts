// Group commit for hot write paths (hand-written: no maintained library does this small thing without
// timers). Callers submit one item each and get their own result. While `concurrency` flushes are in flight,
// new items wait and leave together in the next flush (up to `maxBatch`), so under load one statement or one
// round trip serves many requests, and at low load every item is flushed at once, with no added latency.
export interface BatcherOptions {
  /** Most items in one flush. */
  maxBatch: number;
  /** Flushes in flight at once (for SQL: keep it under the pool size). */
  concurrency: number;
  /**
   * Whether a failed flush may be the fault of one item (for SQL: a data or constraint error) rather than of
   * the store: the items are then flushed one by one, so one bad item fails alone and never its neighbours.
   */
  itemFault?: (err: unknown) => boolean;
}

export class Batcher<T, R> {
  private waiting: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private inFlight = 0;

  /** `flush` answers one result per item, in order; if it throws, every item of that flush gets the error. */
  constructor(
    private readonly flush: (items: T[]) => Promise<R[]>,
    private readonly opts: BatcherOptions,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.drain();
    });
  }

  private async oneByOne(batch: typeof this.waiting): Promise<void> {
    for (const b of batch) {
      await this.flush([b.item]).then(
        ([result]) => b.resolve(result),
        (err: unknown) => b.reject(err),
      );
    }
  }

  private drain(): void {
    while (this.inFlight < this.opts.concurrency && this.waiting.length) {
      const batch = this.waiting.splice(0, this.opts.maxBatch);
      this.inFlight++;
      Promise.resolve()
        .then(() => this.flush(batch.map((b) => b.item)))
        .then((results) => {
          if (results.length !== batch.length) throw new Error('a batch flush answered the wrong count');
          batch.forEach((b, i) => b.resolve(results[i]));
        })
        .catch((err: unknown) => {
          if (batch.length > 1 && this.opts.itemFault?.(err)) return this.oneByOne(batch);
          batch.forEach((b) => b.reject(err));
        })
        .finally(() => {
          this.inFlight--;
          this.drain();
        });
    }
  }
}
