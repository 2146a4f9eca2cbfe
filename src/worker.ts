// The worker process: BullMQ processors and scheduled jobs, no HTTP listener.
import 'reflect-metadata';
import { configOrExit, createWorkerApp, exitOnSignals, logStartup } from './bootstrap';

async function main(): Promise<void> {
  const config = configOrExit('worker');
  const signals = exitOnSignals(config);
  const app = await createWorkerApp(config);
  signals.attach(app);
  await app.init();
  logStartup(config, 'worker started');
}

void main().catch((err: Error) => {
  process.stderr.write(`sms-bridge worker failed to start: ${err.message}\n`);
  process.exit(1);
});
