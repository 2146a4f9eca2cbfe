import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { dataSourceOptions } from './database-options';
import { MigrationRunner } from './migration-runner';
import { PartitionMaintenanceTask } from './partition-maintenance.task';
import { QueryCounter } from './query-counter';

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        ...dataSourceOptions(config),
        logger: QueryCounter.instance,
        maxQueryExecutionTime: 1000,
        retryAttempts: 10,
        retryDelay: 3000,
      }),
    }),
  ],
  providers: [MigrationRunner, { provide: QueryCounter, useValue: QueryCounter.instance }],
  exports: [QueryCounter],
})
export class DatabaseModule {
  constructor(metrics: MetricsService) {
    // Read at scrape time: the statements this process sent, by kind (benchmarks divide it by requests).
    metrics.gauge(
      'smsb_db_statements',
      'SQL statements sent by this process, by kind',
      ['kind'],
      function () {
        for (const [kind, n] of Object.entries(QueryCounter.instance.byKind)) this.set({ kind }, n);
      },
    );
  }
}

/** The worker side of the database: partition maintenance of the history tables. */
@Module({ providers: [PartitionMaintenanceTask] })
export class DatabaseWorkerModule {}
