// Audit events: written to the number bucket's Redis list (audit_queue) on the hot path, moved to sms_monitor by the
// monitor-logger. The event id makes the move idempotent.
import { randomUUID } from 'node:crypto';

export type AuditEventType =
  'register' | 'bind' | 'inbound_sms' | 'blacklist' | 'unblacklist' | 'opt_out' | 'opt_in';

export interface AuditEvent {
  event_id: string;
  mobile_number: string | null;
  event_type: AuditEventType;
  outcome: string;
  reason?: string;
  details?: Record<string, unknown>;
  created_at: string;
}

export function auditEvent(
  type: AuditEventType,
  mobile: string | null,
  outcome: string,
  extra: { reason?: string; details?: Record<string, unknown> } = {},
): AuditEvent {
  return {
    event_id: randomUUID(),
    mobile_number: mobile,
    event_type: type,
    outcome,
    ...extra,
    created_at: new Date().toISOString(),
  };
}
