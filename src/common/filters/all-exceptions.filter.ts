import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { maskPhonesIn } from '../mask';
import { mapError } from './error-body';

/** Gives every error raised in Nest (routes, guards, pipes, 404s) the SPEC shape. */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const req = ctx.getRequest<FastifyRequest>();
    const { body, headers, unexpected } = mapError(exception);
    if (unexpected) {
      const err = exception as Error;
      this.logger.error(`${req.method} ${maskPhonesIn(req.url)} failed: ${err?.message}`, err?.stack);
    }
    if (reply.sent) return;
    reply.status(body.statusCode).headers(headers).send(body);
  }
}
