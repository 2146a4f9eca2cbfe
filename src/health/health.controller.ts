import { Controller, Get, HttpStatus, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckResult, HealthCheckService } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { Public } from '../http/access.decorator';
import { RedisHealthIndicator } from '../redis/redis.health';
import { DatabaseHealthIndicator } from './database.health';
import { HealthService } from './health.service';
import { ReadinessService } from './readiness.service';
import { HealthReportDto, LiveDto, RedisHealthDto } from './dto/health.dto';

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthService,
    private readonly terminus: HealthCheckService,
    private readonly redis: RedisHealthIndicator,
    private readonly database: DatabaseHealthIndicator,
    private readonly readiness: ReadinessService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Every component: database, Redis and background workers' })
  @ApiOkResponse({ type: HealthReportDto, description: 'healthy' })
  @ApiServiceUnavailableResponse({ type: HealthReportDto, description: 'degraded' })
  async report(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthReportDto> {
    const report = await this.health.report();
    reply.status(report.status === 'healthy' ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return report;
  }

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process answers (no dependency checks)' })
  @ApiOkResponse({ type: LiveDto })
  live(): LiveDto {
    return { status: 'ok' };
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({
    summary: 'Readiness: Redis, Postgres and start-up warm-up (Terminus shape); 503 until ready',
  })
  async ready(@Res({ passthrough: true }) reply: FastifyReply) {
    // Terminus throws its 503 with the report as the exception's body; the error filter would answer it in the
    // error shape, so the report is answered here, as documented (Terminus shape either way).
    return this.terminus
      .check([
        () => this.redis.isHealthy('redis'),
        async () => {
          const p = await this.database.probe();
          return {
            database: p.healthy
              ? { status: 'up' as const, latency_ms: p.latency_ms }
              : { status: 'down' as const, error: p.error },
          };
        },
        async () => ({
          warmup: this.readiness.ready
            ? { status: 'up' as const }
            : { status: 'down' as const, waiting_for: this.readiness.waitingFor },
        }),
      ])
      .catch((err: unknown) => {
        if (!(err instanceof ServiceUnavailableException)) throw err;
        void reply.status(HttpStatus.SERVICE_UNAVAILABLE);
        return err.getResponse() as HealthCheckResult;
      });
  }

  @Get('redis')
  @ApiOperation({ summary: 'Redis alone: reachability and PING latency' })
  @ApiOkResponse({ type: RedisHealthDto })
  @ApiServiceUnavailableResponse({ type: RedisHealthDto })
  async redisHealth(@Res({ passthrough: true }) reply: FastifyReply): Promise<RedisHealthDto> {
    const p = await this.redis.probe();
    reply.status(p.healthy ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return p;
  }
}
