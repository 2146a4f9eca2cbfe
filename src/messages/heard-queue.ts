// The class every queue is made with (set in messages.module.ts).
import { Queue } from 'bullmq';

/**
 * A queue whose 'error' events are heard for its whole life: an unheard 'error' ends the process. Outages are
 * reported once by the request-path client, and a send that fails answers for itself, so these are dropped.
 * The queue hears its own from the moment it is made (BullMQ emits some on the queue whether or not anyone
 * listens), not from when the service that uses it is made.
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
