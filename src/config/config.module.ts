import { DynamicModule, Global, Module } from '@nestjs/common';
import { AppConfig } from './app-config';

/**
 * Provides the validated AppConfig to every module. The config object is built by the entry point (main.ts,
 * worker.ts, or a test) before Nest starts, so that a bad variable stops the process before anything connects
 * and so that tests can run several differently configured apps in one process.
 */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: AppConfig, useValue: config }],
      exports: [AppConfig],
    };
  }
}
