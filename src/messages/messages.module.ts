import { BullModule } from '@nestjs/bullmq';
import { Logger, Module } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { REDIS, RedisClient } from '../redis/redis.constants';
import { recordCircuit } from './providers/provider-circuits';
import { RateLimiters } from '../common/rate-limit/rate-limit';
import { AppConfig } from '../config/app-config';
import { OnboardingModule } from '../onboarding/onboarding.module';
import { bullmqConnection, bullmqPrefix } from '../redis/redis-options';
import { QueueName } from '../workers/job-catalogue';
import { IdempotencyStore } from './idempotency';
import { MessageRelayTask } from './message-relay.task';
import { MessageSender } from './message-sender';
import { MessageStatusService } from './message-status.service';
import { MessageWorkers } from './message-workers';
import { MessagesController } from './messages.controller';
import { MessagesRepository } from './messages.repository';
import { MessagesService } from './messages.service';
import { HeardQueue } from './heard-queue';
import { EMAIL_PROVIDER, SMS_PROVIDER } from './providers/provider';
import { ProviderReports } from './providers/provider-reports';
import { emailProvider, smsProvider } from './providers/providers';
import { SMS_RECEIVED } from './providers/smpp.provider';
import { NumberBlocks } from '../suppression/number-blocks';
import { StatusCallbacks } from './status-callbacks';
import { Msg91WebhooksController } from './msg91-webhooks.controller';
import { TwilioWebhooksController } from './twilio-webhooks.controller';
import { TemplatesCoreModule } from '../templates/templates.module';

// @nestjs/bullmq's public hook for the class its queues are made with (BullMQ Pro's QueuePro is set the same
// way): every queue hears its 'error' events, before and after it closes.
BullModule.queueClass = HeardQueue;

/** Queues (producers), the repository, the sender and the providers: what both processes need. */
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [AppConfig],
      // The API's producers fail fast when Redis is down (the relay re-queues later); workers retry forever.
      useFactory: (config: AppConfig) => ({
        connection: bullmqConnection(config.redis, config.runsWorker ? 'worker' : 'producer'),
      }),
    }),
    // Each queue with its own hash tag (bullmqPrefix), so the queues spread over a cluster's masters.
    BullModule.registerQueueAsync(
      ...Object.values(QueueName).map((name) => ({
        name,
        inject: [AppConfig],
        useFactory: (config: AppConfig) => ({ prefix: bullmqPrefix(config.redis, name) }),
      })),
    ),
    TemplatesCoreModule,
  ],
  providers: [
    MessagesRepository,
    IdempotencyStore,
    MessageStatusService,
    StatusCallbacks,
    MessageSender,
    MessagesService,
    ProviderReports,
    {
      provide: SMS_PROVIDER,
      inject: [AppConfig, ProviderReports, REDIS, RateLimiters, EventEmitter2, NumberBlocks],
      useFactory: (
        config: AppConfig,
        reports: ProviderReports,
        redis: RedisClient,
        limits: RateLimiters,
        events: EventEmitter2,
        blocks: NumberBlocks,
      ) => {
        const logger = new Logger('Providers');
        const rates = config.messages.providerRates;
        return smsProvider(
          config,
          reports,
          (provider, state) => {
            logger.warn(`${provider}: circuit ${state}`);
            void recordCircuit(redis, provider, state, config.messages.circuit.openMs).catch(() => undefined);
          },
          // One counter per provider and second, shared by every worker (each worker's own while Redis is away).
          async (provider) =>
            rates[provider] === undefined ||
            limits
              .consume({ action: 'provider_send', limit: rates[provider], windowSeconds: 1 }, provider)
              .then(
                () => true,
                () => false,
              ),
          // Mobile-originated SMS on an SMPP bind: to the inbound pipeline (onboarding's SmsReceivedListener).
          async (mo) => {
            const answers = (await events.emitAsync(SMS_RECEIVED, mo)) as (string | null)[];
            if (!answers.length) throw new Error('no inbound SMS pipeline in this process');
            return answers[0] ?? null;
          },
          async (to) => {
            const block = await blocks.of(to);
            return block === 'blacklisted' ? 'BLACKLISTED' : block === 'opted_out' ? 'OPTED_OUT' : null;
          },
        );
      },
    },
    { provide: EMAIL_PROVIDER, inject: [AppConfig], useFactory: emailProvider },
  ],
  exports: [
    BullModule,
    TemplatesCoreModule,
    MessagesRepository,
    MessagesService,
    MessageStatusService,
    StatusCallbacks,
    MessageSender,
    ProviderReports,
  ],
})
export class MessagesCoreModule {}

/** The HTTP side: the messages API and the providers' webhooks. */
@Module({
  imports: [MessagesCoreModule, OnboardingModule],
  controllers: [MessagesController, TwilioWebhooksController, Msg91WebhooksController],
})
export class MessagesModule {}

/** The worker side: BullMQ workers and the relay. */
@Module({
  imports: [MessagesCoreModule],
  providers: [MessageWorkers, MessageRelayTask],
})
export class MessagesWorkerModule {}
