import type { ChainableCommander } from 'ioredis';

/** Runs a MULTI or pipeline and returns its replies, throwing the first command's error (or an aborted MULTI). */
export async function execAll(chain: ChainableCommander): Promise<unknown[]> {
  const res = await chain.exec();
  if (!res) throw new Error('Redis transaction was aborted');
  return res.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
