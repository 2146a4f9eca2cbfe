// The only place that reads process.env: .env (when present) under the real environment, then validation.
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'dotenv';
import { AppConfig } from './app-config';
import type { AppRole } from './env';
import { validateEnv } from './env';

export type RawEnv = Record<string, string | undefined>;

export function readRawEnv(envFile = '.env'): RawEnv {
  const fromFile = existsSync(envFile) ? parse(readFileSync(envFile)) : {};
  // Real environment variables win over the file, as with docker compose and Kubernetes.
  return { ...fromFile, ...process.env };
}

export function loadConfig(defaultRole: AppRole, raw: RawEnv = readRawEnv()): AppConfig {
  return new AppConfig(validateEnv(raw), defaultRole);
}
