// The one definition of "Redis is unavailable": what sends a request to its fallback (OTP on Postgres,
// sessions in memory) or answers 503 REDIS_UNAVAILABLE. Anything else is a bug or a bad reply, and is a 500.
//
// ioredis never hands a request a raw socket error: without an offline queue a command sent while disconnected
// fails with "Stream isn't writeable", one cut mid-way with "Connection is closed." or the max-retries error,
// and a slow one with "Command timed out". Socket error codes are therefore Postgres's, not a Redis sign.
// A server that is starting (LOADING), failing over (CLUSTERDOWN, MASTERDOWN, TRYAGAIN), demoted to a replica
// while the client still holds its connection (READONLY, as in a Sentinel or ElastiCache failover: the client
// then reconnects, see redis-options.ts) or full under noeviction (OOM) cannot serve the request either; nor
// can a cluster whose slot is moving past what the client retries (too many redirections, a transaction
// discarded by a redirection: EXECABORT, MOVED, ASK).
import { types } from 'node:util';

const OUTAGE =
  /Stream isn't writeable|Connection is closed|Command timed out|MaxRetriesPerRequest|CLUSTERDOWN|MASTERDOWN|TRYAGAIN|LOADING|^READONLY |^OOM |None of startup nodes is available|Failed to refresh slots cache|Too many Cluster redirections|Cluster isn't ready|EXECABORT|^(MOVED|ASK) \d/i;
const ERROR_NAMES = new Set(['Error', 'ReplyError', 'MaxRetriesPerRequestError', 'ClusterAllFailedError']);

export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error || types.isNativeError(err))) return false;
  return (ERROR_NAMES.has(err.name) || err.name.includes('Redis')) && OUTAGE.test(err.message);
}
