import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { HeardQueue } from './heard-queue';

/**
 * In a child process (as in production, an unheard 'error' ends it): a queue on a shared client (as the cluster
 * connection handed to BullMQ is) starts, asks the Redis stand-in INFO, and closes while the answer is held; the
 * stand-in then answers with an error, failing the start-up after BullMQ dropped the connection's listeners.
 */
function closeThenFailStartUp(queueClass: 'Queue' | 'HeardQueue'): { status: number | null; out: string } {
  const script = `
    const net = require('node:net');
    const Redis = require('ioredis');
    const { Queue } = require('bullmq');
    const { HeardQueue } = require(${JSON.stringify(join(__dirname, 'heard-queue'))});
    (async () => {
      const sockets = [];
      const server = net.createServer((s) => { sockets.push(s); s.on('error', () => undefined); });
      await new Promise((r) => server.listen(0, '127.0.0.1', r));
      const client = new Redis({ host: '127.0.0.1', port: server.address().port, enableReadyCheck: false,
        lazyConnect: true, disableClientInfo: true });
      client.on('error', () => undefined);
      await client.connect();
      const queue = new ${queueClass}('held', { connection: client });
      queue.on('error', () => undefined);
      await new Promise((r) => setTimeout(r, 100));
      await queue.close();
      for (const s of sockets) s.write('-ERR not now\\r\\n');
      await new Promise((r) => setTimeout(r, 200));
      console.log('survived');
      process.exit(0);
    })();`;
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
    cwd: join(__dirname, '../..'),
    encoding: 'utf8',
    timeout: 20000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('HeardQueue', () => {
  it('has an error listener from the moment it is made', () => {
    const queue = new HeardQueue('heard', { connection: { lazyConnect: true, enableOfflineQueue: false } });
    expect(queue.listenerCount('error')).toBe(1);
    void queue.disconnect();
  });

  it('hears a start-up that fails after the queue closed (unheard, it ends the process)', () => {
    const plain = closeThenFailStartUp('Queue'); // the premise: BullMQ's own queue leaves it unheard
    expect(plain.status).not.toBe(0);
    expect(plain.out).toMatch(/not now/);
    expect(plain.out).not.toMatch(/survived/);
    const heard = closeThenFailStartUp('HeardQueue');
    expect(heard.out).toMatch(/survived/);
    expect(heard.status).toBe(0);
  }, 60000);
});
