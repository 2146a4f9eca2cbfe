import { ApiExtraModels, ApiProperty, getSchemaPath } from '@nestjs/swagger';

export class LiveDto {
  @ApiProperty({ example: 'ok' })
  status: 'ok';
}

export class RedisHealthDto {
  healthy: boolean;
  connected: boolean;
  /** PING round trip; null when Redis did not answer. */
  @ApiProperty({ type: Number, nullable: true })
  latency_ms: number | null;
  error?: string;
}

export class ComponentHealthDto {
  @ApiProperty({ enum: ['up', 'down'] })
  status: 'up' | 'down';
  @ApiProperty({ type: Number, nullable: true })
  latency_ms: number | null;
  connected?: boolean;
  error?: string;
}

export class JobHealthDto {
  @ApiProperty({ enum: ['up', 'down', 'never_reported'] })
  status: 'up' | 'down' | 'never_reported';
  last_beat?: string;
  age_seconds?: number;
  interval_seconds: number;
}

@ApiExtraModels(JobHealthDto)
export class WorkersHealthDto {
  @ApiProperty({ enum: ['up', 'down', 'unknown'], description: 'unknown: no worker has reported yet' })
  status: 'up' | 'down' | 'unknown';
  message?: string;
  @ApiProperty({ type: 'object', additionalProperties: { $ref: getSchemaPath(JobHealthDto) } })
  jobs: Record<string, JobHealthDto>;
}

export class SessionsHealthDto {
  /** degraded: sessions are served from this replica's memory; down: Redis is unreachable and there is no fallback */
  @ApiProperty({ enum: ['up', 'degraded', 'down'] })
  status: 'up' | 'degraded' | 'down';
  /** SESSION_FALLBACK */
  @ApiProperty({ enum: ['memory', 'none'] })
  fallback: 'memory' | 'none';
  /** True while Redis is unreachable, or sessions created meanwhile are not yet moved back to Redis */
  fallback_active: boolean;
  /** Sessions held in this replica's memory */
  memory_sessions: number;
}

export class SmsProvidersHealthDto {
  /** degraded: a provider's circuit is open (its routes fail over to the next); down: every one is open */
  @ApiProperty({ enum: ['up', 'degraded', 'down'] })
  status: 'up' | 'degraded' | 'down';
  /** Each SMS provider's circuit breaker, as the workers last reported it */
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string', enum: ['closed', 'open', 'half_open'] },
  })
  circuits: Record<string, 'closed' | 'open' | 'half_open'>;
}

export class HealthComponentsDto {
  database: ComponentHealthDto;
  redis: ComponentHealthDto;
  background_workers: WorkersHealthDto;
  sessions?: SessionsHealthDto;
  sms_providers?: SmsProvidersHealthDto;
}

export class HealthReportDto {
  @ApiProperty({ enum: ['healthy', 'degraded'] })
  status: 'healthy' | 'degraded';
  timestamp: string;
  components: HealthComponentsDto;
}
