// Writes the OpenAPI document to openapi.json (a reviewed artefact: a test fails when it drifts from the code).
// Nest runs in preview mode, so no provider is created and neither Redis nor Postgres is needed.
import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from '../app.module';
import { buildOpenApiDocument } from '../http/swagger';
import { loadConfig } from '../config/load-config';

export async function generateOpenApi(): Promise<object> {
  const config = loadConfig('api', { API_KEYS: 'openapi', NODE_ENV: 'test', LOG_LEVEL: 'silent' });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRole(config),
    new FastifyAdapter(),
    {
      preview: true,
      logger: false,
    },
  );
  const document = buildOpenApiDocument(app);
  await app.close();
  return document;
}

export const OPENAPI_PATH = join(__dirname, '..', '..', 'openapi.json');

if (require.main === module) {
  void generateOpenApi().then((doc) => {
    writeFileSync(OPENAPI_PATH, `${JSON.stringify(doc, null, 2)}\n`);
    process.stdout.write(`wrote ${OPENAPI_PATH}\n`);
  });
}
