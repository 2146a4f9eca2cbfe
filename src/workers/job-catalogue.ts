// The one catalogue of background work: queue names, scheduled jobs and their intervals.
import type { AppConfig } from '../config/app-config';

/** BullMQ queues: one per kind of outbound message, and one for status callbacks to clients. */
export enum QueueName {
  Sms = 'sms',
  Mms = 'mms',
  Email = 'email',
  Webhooks = 'webhooks',
}

export const MESSAGE_QUEUES = [QueueName.Sms, QueueName.Mms, QueueName.Email] as const;

export enum JobName {
  /** Send one message; job id = message id, so a message is never queued twice. */
  SendMessage = 'send-message',
  /** POST a message's status changes, in order, to the client's status_callback URL. */
  StatusCallback = 'status-callback',
}

export interface SendMessagePayload {
  messageId: string;
}

/**
 * Deliver a message's status callbacks up to this event (message_events.id): one job per change, each
 * delivering, in order, whatever of that message is not delivered yet.
 */
export interface StatusCallbackPayload {
  messageId: string;
  eventId: string;
}

/** Sends retry with exponential backoff; finished jobs are kept a while for the dashboard, then pruned. */
export function sendJobOptions(config: AppConfig) {
  return {
    attempts: config.messages.maxAttempts,
    backoff: { type: 'exponential' as const, delay: config.messages.backoffMs },
    removeOnComplete: { age: 3600, count: 10_000 },
    removeOnFail: { age: 7 * 86400, count: 10_000 },
  };
}

export function callbackJobOptions(config: AppConfig) {
  return {
    attempts: config.messages.webhookMaxAttempts,
    backoff: { type: 'exponential' as const, delay: 2000 },
    removeOnComplete: { age: 3600, count: 10_000 },
    removeOnFail: { age: 7 * 86400, count: 10_000 },
  };
}

/** Scheduled jobs run by the worker; each tick takes lock:{name} and writes worker:heartbeat:{name}. */
export enum ScheduledJobName {
  /** The worker process itself: proves a worker is alive even when no job has work. */
  Worker = 'worker',
  /** Blacklists numbers over the inbound threshold (onboarding). */
  AbuseDetector = 'abuse-detector',
  /** Moves audit events from Redis to sms_monitor (onboarding). */
  MonitorLogger = 'monitor-logger',
  /** Re-queues accepted messages that have no job (messages). */
  MessageRelay = 'message-relay',
  /** Drops expired sessions from the per-user indexes (sessions). */
  SessionCleanup = 'session-cleanup',
  /** Makes the history tables' partitions ahead of time and drops those past retention (database). */
  PartitionMaintenance = 'partition-maintenance',
}

/** Partitions are kept days ahead, so an hourly look is plenty (and the first tick runs at start). */
export const PARTITION_MAINTENANCE_SECONDS = 3600;

export interface ScheduledJobSpec {
  name: ScheduledJobName;
  intervalSeconds: number;
}

/** The jobs health watches, with the interval each is expected to beat at. */
export function scheduledJobs(config: AppConfig): ScheduledJobSpec[] {
  return [
    { name: ScheduledJobName.Worker, intervalSeconds: config.jobs.heartbeatIntervalSec },
    { name: ScheduledJobName.AbuseDetector, intervalSeconds: config.jobs.abuseCheckIntervalSec },
    { name: ScheduledJobName.MonitorLogger, intervalSeconds: config.jobs.monitorLogIntervalSec },
    { name: ScheduledJobName.MessageRelay, intervalSeconds: config.messages.relayIntervalSec },
    { name: ScheduledJobName.SessionCleanup, intervalSeconds: config.sessions.cleanupIntervalSec },
    { name: ScheduledJobName.PartitionMaintenance, intervalSeconds: PARTITION_MAINTENANCE_SECONDS },
  ];
}
