import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface DatabaseProbe {
  healthy: boolean;
  latency_ms: number | null;
  error?: string;
}

@Injectable()
export class DatabaseHealthIndicator {
  constructor(private readonly dataSource: DataSource) {}

  /** SELECT 1 bounded by a timeout; never throws. */
  async probe(timeoutMs = 1000): Promise<DatabaseProbe> {
    const started = process.hrtime.bigint();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.dataSource.query('SELECT 1'),
        new Promise(
          (_, reject) =>
            (timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs)),
        ),
      ]);
      return {
        healthy: true,
        latency_ms: Math.round((Number(process.hrtime.bigint() - started) / 1e6) * 100) / 100,
      };
    } catch (err) {
      return { healthy: false, latency_ms: null, error: (err as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }
}
