// A TypeORM logger that counts statements (tests and benchmarks check "no SQL on this path") and reports
// failed and slow queries once each, without their parameters (which may hold phone numbers).
import { Logger as NestLogger } from '@nestjs/common';
import type { Logger as TypeOrmLogger } from 'typeorm';

export class QueryCounter implements TypeOrmLogger {
  static readonly instance = new QueryCounter();
  private readonly logger = new NestLogger('Database');
  count = 0;
  /** Statements by kind (select, insert, update, delete, other), for /metrics. */
  readonly byKind: Record<string, number> = { select: 0, insert: 0, update: 0, delete: 0, other: 0 };

  logQuery(query: string): void {
    this.count++;
    // A statement is the first write it makes (WITH … INSERT counts as an insert), else a select.
    const write = /\b(insert|update|delete)\b/i.exec(query)?.[1]?.toLowerCase();
    this.byKind[write ?? (/^\s*(select|with)\b/i.test(query) ? 'select' : 'other')]++;
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
