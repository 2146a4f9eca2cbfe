// The DataSource the TypeORM CLI uses (npm run migration:run / migration:generate).
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from '../config/load-config';
import { dataSourceOptions } from './database-options';

export default new DataSource(dataSourceOptions(loadConfig('worker')));
