// The API process: HTTP only; background work is queued for the worker (APP_ROLE=all runs both here).
import 'reflect-metadata';
import { configOrExit, createApiApp, exitOnSignals, logStartup } from './bootstrap';

async function main(): Promise<void> {
  const config = configOrExit('api');
  const signals = exitOnSignals(config);
  const app = await createApiApp(config);
  signals.attach(app);
  await app.listen({ port: config.http.port, host: '0.0.0.0' });
  logStartup(config, `API listening on :${config.http.port}, docs at ${config.http.publicBaseUrl}/docs`);
}

void main().catch((err: Error) => {
  process.stderr.write(`sms-bridge failed to start: ${err.message}\n`);
  process.exit(1);
});
