// A controller mounted only in tests, to drive the real guard, pipe and filter through routes of each kind.
import { Body, Controller, Get, Inject, Module, Post } from '@nestjs/common';
import { IsInt, IsString, MaxLength, Min } from 'class-validator';
import { AdminOnly, Public } from '../../src/http/access.decorator';
import { Validated } from '../../src/http/validation.pipe';
import { REDIS, RedisClient } from '../../src/redis/redis.constants';

class EchoBody {
  @IsString() @MaxLength(10) name: string;
  @IsInt() @Min(0) count: number;
}

@Controller('__probe')
class ProbeController {
  constructor(@Inject(REDIS) private readonly redis: RedisClient) {}

  @Get('client')
  client() {
    return { ok: true };
  }

  @AdminOnly()
  @Get('admin')
  admin() {
    return { ok: true };
  }

  @Public()
  @Post('echo')
  echo(@Body(Validated) body: EchoBody) {
    return body;
  }

  @Public()
  @Get('boom')
  boom() {
    throw new Error('internal detail that must not leak');
  }

  /** A request-path Redis command: fails fast when Redis is down. */
  @Public()
  @Get('redis')
  async redisGet() {
    return { value: await this.redis.get('probe') };
  }
}

@Module({ controllers: [ProbeController] })
export class ProbeModule {}
