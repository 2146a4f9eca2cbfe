// Session get: 500 sessions made through the service, read in turn by both sides.
import { auth } from '../lib/context';
import type { Req } from '../lib/load';
import type { SideBySide } from '../lib/side-by-side';
import type { Stack } from '../lib/stack';

export async function sessionGet(sbs: SideBySide, stack: Stack) {
  const sessionIds: string[] = [];
  for (let i = 0; i < 500; i++) {
    const r = await fetch(`http://127.0.0.1:${stack.apiPort}/sessions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: `bench-user-${i % 50}`, context: { plan: 'pro', n: i } }),
    });
    sessionIds.push(((await r.json()) as { session_id: string }).session_id);
  }
  let s = 0;
  const get = (): Req => ({
    path: `/sessions/${sessionIds[s++ % sessionIds.length]}`,
    headers: auth,
  });
  await sbs.compare('session get', get, get);
}
