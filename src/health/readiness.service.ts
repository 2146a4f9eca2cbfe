import { Injectable } from '@nestjs/common';

/**
 * Start-up work that must finish before the process takes traffic (e.g. warming the Redis sets from
 * Postgres). Modules register a task and mark it done; /health/ready is 503 until every task is done.
 */
@Injectable()
export class ReadinessService {
  private readonly pending = new Set<string>();

  begin(task: string): () => void {
    this.pending.add(task);
    return () => this.pending.delete(task);
  }

  get waitingFor(): string[] {
    return [...this.pending];
  }

  get ready(): boolean {
    return this.pending.size === 0;
  }
}
