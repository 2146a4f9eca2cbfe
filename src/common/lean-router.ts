// Nest's per-request route handler, with the same steps in the same order but without a promise per step.
//
// Why this is hand-written: Nest 11 builds each route's handler (RouterExecutionContext.create) as a chain of
// async functions: guards, each pipe of each parameter, interceptors, the result and the reply each await a
// promise even when everything is synchronous, about 28 promises per request (counted with async_hooks on
// register and session get; the whole request made 44-52). The request-id AsyncLocalStorage (see logging.ts)
// makes every promise cost more on Node 20, which runs promise hooks for it, so these promises were the
// largest framework cost left on the hot paths (bench/README.md, "What moved the figures"). The handler built
// here runs the same guards, pipes and handler with the same arguments and the same errors, and awaits only
// what is actually asynchronous: a guard, pipe or handler that returns a promise or an Observable.
//
// Routes that use what this does not reproduce keep Nest's own handler: interceptors, SSE, @Render,
// @Redirect, @Res/@Next without passthrough, and request-scoped controllers (a non-static context id).
// The parity test (lean-router.spec.ts) answers the same requests through both handlers and compares them,
// and counts the promises, so a Nest upgrade that changes these internals fails there, not in production.
import { CanActivate, ForbiddenException, PipeTransform } from '@nestjs/common';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { FORBIDDEN_MESSAGE } from '@nestjs/core/guards/constants';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { STATIC_CONTEXT } from '@nestjs/core/injector/constants';
import { ParamsTokenFactory } from '@nestjs/core/pipes/params-token-factory';
import { RouterExecutionContext } from '@nestjs/core/router/router-execution-context';
import { isObservable, lastValueFrom } from 'rxjs';

type Create = RouterExecutionContext['create'];
type Handler = ReturnType<Create>;
type Callback = (...args: unknown[]) => unknown;

interface ParamOption {
  index: number;
  type: RouteParamtypes | string;
  data: unknown;
  metatype?: unknown;
  pipes: PipeTransform[];
  extractValue: (req: unknown, res: unknown, next: unknown) => unknown;
}

/** The members of RouterExecutionContext the lean handler uses (private in its typings). */
interface Internals {
  pipesContextCreator: { create(...args: unknown[]): PipeTransform[] };
  guardsContextCreator: { create(...args: unknown[]): CanActivate[] };
  interceptorsContextCreator: { create(...args: unknown[]): unknown[] };
  contextUtils: {
    mergeParamsMetatypes(params: ParamOption[], paramtypes: unknown[] | undefined): ParamOption[];
  };
  responseController: {
    setStatus(res: unknown, status: number): void;
    setHeaders(res: unknown, headers: unknown[]): void;
  };
  isResponseHandled(instance: object, methodName: string, params: ParamOption[]): boolean;
}

const tokens = new ParamsTokenFactory();
const original: Create = RouterExecutionContext.prototype.create;
/** Promise-like (a pipe or guard may return any thenable; Nest awaits whatever it gets). */
const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  v !== null &&
  (typeof v === 'object' || typeof v === 'function') &&
  typeof (v as { then?: unknown }).then === 'function';

function leanCreate(
  this: RouterExecutionContext,
  instance: object,
  callback: Callback,
  methodName: string,
  moduleKey: string,
  requestMethod: Parameters<Create>[4],
  contextId = STATIC_CONTEXT,
  inquirerId?: string,
): Handler {
  const self = this as unknown as Internals;
  const fallback = () =>
    original.call(this, instance, callback, methodName, moduleKey, requestMethod, contextId, inquirerId);
  if (contextId !== STATIC_CONTEXT) return fallback();
  const meta = this.getMetadata(instance, callback, methodName, moduleKey, requestMethod, 'http');
  const interceptors = self.interceptorsContextCreator.create(
    instance,
    callback,
    moduleKey,
    contextId,
    inquirerId,
  );
  if (
    interceptors.length ||
    meta.isSseHandler ||
    this.reflectRenderTemplate(callback) ||
    this.reflectRedirect(callback)
  )
    return fallback();
  const params = self.contextUtils.mergeParamsMetatypes(
    meta.getParamsMetadata(moduleKey, contextId, inquirerId) as ParamOption[],
    meta.paramtypes,
  );
  if (self.isResponseHandled(instance, methodName, params)) return fallback();

  const contextPipes = self.pipesContextCreator.create(instance, callback, moduleKey, contextId, inquirerId);
  const guards = self.guardsContextCreator.create(instance, callback, moduleKey, contextId, inquirerId);
  const steps = params.map((p) => ({
    index: p.index,
    extractValue: p.extractValue,
    // Global, controller and method pipes, then the parameter's own (Nest's order); none for @Req and the like.
    pipes: this.isPipeable(p.type) ? contextPipes.concat(p.pipes) : [],
    meta: {
      metatype: p.metatype,
      type: tokens.exchangeEnumForString(p.type as RouteParamtypes),
      data: p.data,
    },
  }));
  const mostPipes = Math.max(0, ...steps.map((s) => s.pipes.length));
  const { argsLength, httpStatusCode, hasCustomHeaders, responseHeaders } = meta;
  const responses = self.responseController;
  const app = this.applicationRef;
  const controller = instance.constructor;

  const handler = async (req: unknown, res: unknown, next: unknown): Promise<void> => {
    if (guards.length) {
      const context = new ExecutionContextHost([req, res, next], controller as never, callback);
      context.setType('http');
      for (const guard of guards) {
        let allowed: unknown = guard.canActivate(context);
        if (typeof allowed !== 'boolean') {
          allowed = isObservable(allowed) ? await lastValueFrom(allowed) : await allowed;
        }
        if (!allowed) throw new ForbiddenException(FORBIDDEN_MESSAGE);
      }
    }
    responses.setStatus(res, httpStatusCode);
    if (hasCustomHeaders) responses.setHeaders(res, responseHeaders);
    const args: unknown[] = new Array(argsLength).fill(undefined);
    for (const step of steps) args[step.index] = step.extractValue(req, res, next);
    // Pipe by pipe across the parameters, as Nest's concurrent chains interleave: the first pipe of each
    // parameter, then the second, … (so the first pipe to throw is the one whose error Nest would answer).
    for (let k = 0; k < mostPipes; k++) {
      for (const step of steps) {
        const pipe = step.pipes[k];
        if (!pipe) continue;
        let value = pipe.transform(args[step.index], step.meta as never);
        if (isThenable(value)) value = await value;
        args[step.index] = value;
      }
    }
    let result = callback.apply(instance, args);
    if (isThenable(result)) result = await result;
    if (isObservable(result)) result = await lastValueFrom(result);
    // Fastify's reply is a thenable that settles once the answer is written; Nest waits for it too. Resolving
    // earlier, while an onSend hook still holds the answer (refused-body.ts does), makes Fastify send again.
    const sent: unknown = app.reply(res, result);
    if (isThenable(sent)) await sent;
  };
  return handler as Handler;
}

/**
 * Makes every route built from now on use the lean handler. Call before the application initialises (routes
 * are built then). Returns a function that puts Nest's own back, for routes built after it (the tests).
 */
export function installLeanRouter(): () => void {
  RouterExecutionContext.prototype.create = leanCreate as unknown as Create;
  return () => {
    RouterExecutionContext.prototype.create = original;
  };
}
