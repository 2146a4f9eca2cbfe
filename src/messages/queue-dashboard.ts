// bull-board at /admin/queues, behind an admin key: X-API-Key, or HTTP Basic with the key as the password
// (so a browser can open the dashboard and send the key with every request it makes).
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { getQueueToken } from '@nestjs/bullmq';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Queue } from 'bullmq';
import { KeyRing, presentedKey } from '../http/api-key.guard';
import type { AppConfig } from '../config/app-config';
import { QueueName } from '../workers/job-catalogue';

export const DASHBOARD_PATH = '/admin/queues';

export async function mountQueueDashboard(app: NestFastifyApplication, config: AppConfig): Promise<void> {
  const queues = Object.values(QueueName).map((name) => app.get<Queue>(getQueueToken(name)));
  const adapter = new FastifyAdapter();
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: false })),
    serverAdapter: adapter,
  });
  adapter.setBasePath(DASHBOARD_PATH);
  const keys = new KeyRing(config);
  const fastify = app.getHttpAdapter().getInstance();

  await fastify.register(async (scope) => {
    scope.addHook('onRequest', async (req, reply) => {
      const key = presentedKey(req, true);
      const ok = key !== undefined && keys.match(key).admin !== undefined;
      if (!ok) {
        const status = key ? 403 : 401;
        return reply
          .status(status)
          .header('www-authenticate', 'Basic realm="sms-bridge admin", charset="UTF-8"')
          .send({
            statusCode: status,
            error: status === 401 ? 'Unauthorized' : 'Forbidden',
            code: status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN',
            message: 'The queue dashboard needs an admin API key',
          });
      }
      // The dashboard's page runs inline scripts and styles; everything else keeps the strict policy.
      reply.header(
        'content-security-policy',
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:",
      );
    });
    await scope.register(adapter.registerPlugin(), { prefix: DASHBOARD_PATH });
  });
}
