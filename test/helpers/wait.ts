export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until the check returns a truthy value, or fails with the message after timeoutMs. */
export async function waitFor<T>(
  check: () => Promise<T> | T,
  message: string,
  timeoutMs = 10000,
  everyMs = 50,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out: ${message}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}
