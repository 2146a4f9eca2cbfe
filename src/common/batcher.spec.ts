import { Batcher } from './batcher';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

describe('Batcher', () => {
  it('flushes a lone item at once, and groups the items that arrive while flushes are in flight', async () => {
    const gate = deferred();
    const flushes: number[][] = [];
    const b = new Batcher<number, number>(
      async (items) => {
        flushes.push(items);
        await gate.promise;
        return items.map((i) => i * 10);
      },
      { maxBatch: 3, concurrency: 1 },
    );
    const results = [1, 2, 3, 4, 5, 6].map((i) => b.submit(i));
    await new Promise((r) => setImmediate(r));
    expect(flushes).toEqual([[1]]); // the first one did not wait for company
    gate.resolve();
    expect(await Promise.all(results)).toEqual([10, 20, 30, 40, 50, 60]);
    expect(flushes).toEqual([[1], [2, 3, 4], [5, 6]]); // then at most maxBatch together, in order
  });

  it('runs up to `concurrency` flushes at once', async () => {
    let running = 0;
    let most = 0;
    const b = new Batcher<number, number>(
      async (items) => {
        most = Math.max(most, ++running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        return items;
      },
      { maxBatch: 1, concurrency: 3 },
    );
    await Promise.all(Array.from({ length: 10 }, (_, i) => b.submit(i)));
    expect(most).toBe(3);
  });

  it('gives a failed flush’s error to each of its items only, and goes on', async () => {
    const b = new Batcher<number, number>(
      async (items) => {
        if (items.includes(2)) throw new Error('boom');
        return items;
      },
      { maxBatch: 1, concurrency: 1 },
    );
    const settled = await Promise.allSettled([1, 2, 3].map((i) => b.submit(i)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason.message).toBe('boom');
  });

  it('rejects every item when a flush answers the wrong number of results', async () => {
    const b = new Batcher<number, number>(async () => [], { maxBatch: 5, concurrency: 1 });
    await expect(b.submit(1)).rejects.toThrow('wrong count');
  });

  it('flushes one by one after an item fault, so one bad item fails alone', async () => {
    const gate = deferred();
    const flushes: number[][] = [];
    const b = new Batcher<number, number>(
      async (items) => {
        flushes.push(items);
        await gate.promise;
        if (items.includes(-1)) throw Object.assign(new Error('bad row'), { code: '22007' });
        return items;
      },
      { maxBatch: 10, concurrency: 1, itemFault: (err) => (err as { code?: string }).code === '22007' },
    );
    const first = b.submit(0);
    const rest = [1, -1, 2].map((i) =>
      b.submit(i).then(
        (r) => `ok ${r}`,
        (e: Error) => e.message,
      ),
    );
    gate.resolve();
    await first;
    expect(await Promise.all(rest)).toEqual(['ok 1', 'bad row', 'ok 2']);
    expect(flushes).toEqual([[0], [1, -1, 2], [1], [-1], [2]]);
  });

  it('fails the whole flush for a fault of the store', async () => {
    const b = new Batcher<number, number>(
      async () => {
        throw new Error('connection lost');
      },
      { maxBatch: 10, concurrency: 1, itemFault: () => false },
    );
    const all = [1, 2].map((i) => b.submit(i).catch((e: Error) => e.message));
    expect(await Promise.all(all)).toEqual(['connection lost', 'connection lost']);
  });
});
