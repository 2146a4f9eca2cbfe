import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../config/app-config';
import { dataSourceOptions } from './database-options';
import { MigrationRunner } from './migration-runner';
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
export class DatabaseModule {}
