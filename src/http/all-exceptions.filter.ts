import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { maskUrl } from '../common/mask';
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
      this.logger.error(`${req.method} ${maskUrl(req.url)} failed: ${err?.message}`, err?.stack);
    }
    if (reply.sent) return;
    // Always JSON, whatever content type the route had set before it failed (e.g. text/xml for TwiML):
    // an object body under another type cannot be serialised and would turn a 4xx into a 500.
    reply.status(body.statusCode).headers(headers).type('application/json; charset=utf-8').send(body);
  }
}
