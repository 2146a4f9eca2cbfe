// The class every queue is made with (set in messages.module.ts).
import { Queue } from 'bullmq';

/**
 * A queue whose 'error' events are heard for its whole life. Outages are reported once by the request-path
 * client, and a send that fails answers for itself, so these are dropped. On the queue itself an unheard
 * 'error' is printed by BullMQ to stderr (outside the JSON log), so the queue hears its own from the moment it
 * is made; on its connection, after it closed, an unheard 'error' ends the process (see close).
 */
export class HeardQueue extends Queue {
  constructor(...args: ConstructorParameters<typeof Queue>) {
    super(...args);
    this.on('error', () => undefined);
  }

  /**
   * BullMQ drops every listener of the queue's connection when the queue closes, and a start-up that fails after
   * that emits 'error' on the connection, unheard: the app stopping while a queue is still starting on the shared
   * cluster connection (it failed the cluster test project twice, as "Cluster isn't ready"). Heard here instead.
   */
  override async close(): Promise<void> {
    await super.close();
    this.connection.on('error', () => undefined);
  }
}
