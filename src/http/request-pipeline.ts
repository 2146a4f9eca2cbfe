// The request pipeline around every route: the Fastify adapter's options (limits, ids, Fastify's own errors in
// SPEC's shape) and the hooks every request passes (request id and security headers, the refused body drained,
// duration metrics and the one log line per request).
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { PinoLogger } from 'nestjs-pino';
import { logRequestOutcome, requestContext, requestIdFor } from '../common/logging';
import { AppConfig } from '../config/app-config';
import { durationObserver, MetricsService } from '../metrics/metrics.service';
import { clientErrorAnswer, mapError } from './error-body';
import { drainRefusedBody } from './refused-body';
import { addDocumentHeaders, API_HEADERS } from './security-headers';

export function httpAdapter(config: AppConfig): FastifyAdapter {
  return new FastifyAdapter({
    bodyLimit: config.http.bodyLimit,
    trustProxy: config.http.trustProxy ? config.http.trustProxy === 'true' || config.http.trustProxy : false,
    genReqId: requestIdFor,
    routerOptions: { maxParamLength: 200 },
    // No Nest middleware runs here (the request id, headers and logging are the hooks below; nestjs-pino's
    // middleware is off, see loggerParams): without @fastify/middie, no request passes an empty middleware
    // hook. A middleware added later fails the app at start (`instance.use is not a function`), not silently.
    skipMiddie: true,
    // Fastify 5.10's default ('idle') destroys connections that are still being answered when the app closes
    // (fastify/fastify#6889): a SIGTERM cut in-flight requests off. Without it, server.close() closes the idle
    // keep-alive connections, waits for the busy ones, and the hooks below close those once answered.
    forceCloseConnections: false,
    // A path Fastify cannot decode (`%ZZ`) or a path parameter over maxParamLength is refused before any route
    // (hence any key check) runs, as a 404 would be: answered here in SPEC's shape, never echoing the path.
    frameworkErrors: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      const { body, headers } = mapError(err);
      void reply.status(body.statusCode).header('x-request-id', req.id).headers(API_HEADERS).headers(headers);
      // No onSend hook runs for these answers, so the body still coming in is drained here (refused-body.ts):
      // closed on it unread, the connection's reset could destroy the answer before the client read it.
      drainRefusedBody(req, reply, body, (_, payload) => void reply.send(payload));
    },
    // Fastify's own answer to what Node's HTTP parser refuses lacks SPEC's `code`: give it the shape of the rest.
    clientErrorHandler: (err, socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      if (socket.writable) socket.write(clientErrorAnswer(err));
      socket.destroy(err);
    },
  });
}

export function installRequestHooks(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();

  // Every hook below runs for every request, so there is one of each kind, and each is a callback (a promise
  // per request and hook showed in profiles of the hot paths).
  // Errors Fastify raises before a route runs (malformed JSON, body too large, wrong content type) reach
  // the global AllExceptionsFilter through Nest's own Fastify error handler, so they share the answer shape.
  fastify.addHook('onRequest', (req, reply, done) => {
    void reply.header('x-request-id', req.id).headers(API_HEADERS);
    requestContext.run({ id: req.id }, done);
  });
  // Shutting down: every answer still being sent closes its connection, so a keep-alive client does not hold
  // the server open until its keep-alive timeout (72 s) and new requests go to another replica.
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  fastify.addHook('onSend', (req, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    addDocumentHeaders(reply);
    drainRefusedBody(req, reply, payload, done);
  });
  const observe = durationObserver(app.get(MetricsService).httpDuration);
  fastify.addHook('onResponse', (req, reply, done) => {
    observe(req.method, req.routeOptions.url, reply.statusCode, reply.elapsedTime);
    // PinoLogger.root is set when the app initialises (after this function), hence read here.
    logRequestOutcome(PinoLogger.root, req, reply.statusCode, reply.elapsedTime);
    done();
  });
}
