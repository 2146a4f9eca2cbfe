// A TypeORM logger that counts statements (tests and benchmarks check "no SQL on this path") and reports
// failed and slow queries once each, without their parameters (which may hold phone numbers).
import { Logger as NestLogger } from '@nestjs/common';
import type { Logger as TypeOrmLogger } from 'typeorm';

export class QueryCounter implements TypeOrmLogger {
  static readonly instance = new QueryCounter();
  private readonly logger = new NestLogger('Database');
  count = 0;

  logQuery(): void {
    this.count++;
  }

  logQueryError(error: string | Error, query: string): void {
    this.logger.warn(
      `query failed: ${error instanceof Error ? error.message : error} [${query.slice(0, 120)}]`,
    );
  }

  logQuerySlow(time: number, query: string): void {
    this.logger.warn(`slow query (${time} ms): ${query.slice(0, 120)}`);
  }

  logSchemaBuild(): void {}
  logMigration(message: string): void {
    this.logger.log(message);
  }
  log(level: 'log' | 'info' | 'warn', message: unknown): void {
    if (level === 'warn') this.logger.warn(String(message));
  }
}
