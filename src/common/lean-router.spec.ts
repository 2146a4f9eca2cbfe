// The lean route handler (lean-router.ts) against Nest's own: the same requests through two copies of one
// application, one built with each, must get the same answers; and the lean one must make far fewer promises
// (the reason it exists; also what shows if a Nest upgrade makes it fall back or break).
import { createHook } from 'node:async_hooks';
import {
  ArgumentMetadata,
  BadRequestException,
  CallHandler,
  CanActivate,
  Controller,
  createParamDecorator,
  ExecutionContext,
  Get,
  Header,
  HttpCode,
  Injectable,
  Module,
  NestInterceptor,
  Param,
  PipeTransform,
  Post,
  Query,
  Req,
  Res,
  UnauthorizedException,
  UseGuards,
  UseInterceptors,
  UsePipes,
  Body,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { map, Observable, of } from 'rxjs';
import { installLeanRouter } from './lean-router';

/** What the pipes saw, in order, for the request being answered (requests are sent one at a time). */
let seen: string[] = [];

/** Tags a string or a { tags } object with its name, and records the call with Nest's type token. */
class Tag implements PipeTransform {
  constructor(
    private readonly name: string,
    private readonly async = false,
  ) {}
  transform(value: unknown, meta: ArgumentMetadata): unknown {
    seen.push(`${this.name}:${meta.type}:${String(meta.data ?? '')}`);
    let out = value;
    if (typeof value === 'string') out = `${value}|${this.name}`;
    else if (value && typeof value === 'object' && Array.isArray((value as { tags?: unknown }).tags)) {
      out = { ...value, tags: [...(value as { tags: string[] }).tags, this.name] };
    }
    return this.async ? Promise.resolve(out) : out;
  }
}

class Refuse implements PipeTransform {
  transform(value: unknown): unknown {
    if (String(value).startsWith('bad')) throw new BadRequestException('refused by the pipe');
    return value;
  }
}

const header = (ctx: ExecutionContext, name: string) =>
  ctx.switchToHttp().getRequest<FastifyRequest>().headers[name];

@Injectable()
class SyncGuard implements CanActivate {
  canActivate(ctx: ExecutionContext): boolean {
    if (header(ctx, 'x-throw')) throw new UnauthorizedException('the guard threw');
    return header(ctx, 'x-allow') !== 'no';
  }
}
@Injectable()
class AsyncGuard implements CanActivate {
  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    await new Promise((r) => setImmediate(r));
    return header(ctx, 'x-allow') !== 'no';
  }
}
@Injectable()
class ObservableGuard implements CanActivate {
  canActivate(ctx: ExecutionContext): Observable<boolean> {
    return of(header(ctx, 'x-allow') !== 'no');
  }
}
@Injectable()
class Wrap implements NestInterceptor {
  intercept(_ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(map((data) => ({ wrapped: data })));
  }
}

const Custom = createParamDecorator((data: string, ctx: ExecutionContext) => {
  return `${data}:${ctx.switchToHttp().getRequest<FastifyRequest>().method}`;
});

@Controller('p')
@UseGuards(SyncGuard)
@UsePipes(new Tag('c'))
class ParityController {
  @Get('param/:id')
  @UsePipes(new Tag('m'))
  param(@Param('id', new Tag('p'), Refuse) id: string) {
    return { id, seen };
  }

  @Post('body')
  body(@Body(new Tag('p', true)) body: { tags: string[] }, @Query('q', new Tag('q')) q: string) {
    return { body, q, seen };
  }

  @Get('async-guard')
  @UseGuards(AsyncGuard)
  asyncGuard() {
    return { ok: true };
  }

  @Get('observable-guard')
  @UseGuards(ObservableGuard)
  observableGuard() {
    return { ok: true };
  }

  @Get('observable')
  observable() {
    return of({ from: 'observable' });
  }

  @Get('promise-of-observable')
  async promiseOfObservable() {
    await Promise.resolve();
    return of({ from: 'promise of observable' });
  }

  @Get('nothing')
  nothing(): void {}

  @Get('text')
  text() {
    return 'plain text';
  }

  @Post('created')
  created() {
    return { made: true };
  }

  @Post('accepted')
  @HttpCode(202)
  @Header('x-custom', 'set')
  accepted() {
    return { accepted: true };
  }

  @Get('passthrough')
  passthrough(@Res({ passthrough: true }) reply: FastifyReply) {
    void reply.header('x-pass', 'yes').status(203);
    return { passthrough: true };
  }

  @Get('manual')
  manual(@Res() reply: FastifyReply) {
    void reply.status(206).send({ manual: true });
  }

  @Get('intercepted')
  @UseInterceptors(Wrap)
  intercepted() {
    return { inner: true };
  }

  @Get('throws')
  throws() {
    throw new Error('a fault in the handler');
  }

  @Get('rejects')
  async rejects() {
    await Promise.resolve();
    throw new BadRequestException('rejected');
  }

  @Get('request')
  request(@Req() req: FastifyRequest, @Custom('deco') deco: string) {
    return { url: req.url, deco, seen };
  }
}

@Module({ controllers: [ParityController], providers: [SyncGuard, AsyncGuard, ObservableGuard] })
class ParityModule {}

async function build(): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(ParityModule, new FastifyAdapter(), {
    logger: false,
  });
  app.useGlobalPipes(new Tag('g'));
  // An onSend hook that holds the answer for a while, as refused-body.ts does for a body still arriving.
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onSend', (req, _reply, payload, done) => {
      if (req.headers['x-slow-send']) setTimeout(() => done(null, payload), 5);
      else done(null, payload);
    });
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

type Call = { method: 'GET' | 'POST'; url: string; headers?: Record<string, string>; payload?: object };

const CALLS: Call[] = [
  { method: 'GET', url: '/p/param/abc' },
  { method: 'GET', url: '/p/param/bad' },
  { method: 'GET', url: '/p/param/abc', headers: { 'x-allow': 'no' } },
  { method: 'GET', url: '/p/param/abc', headers: { 'x-throw': '1' } },
  { method: 'POST', url: '/p/body?q=x', payload: { tags: [] } },
  { method: 'GET', url: '/p/async-guard' },
  { method: 'GET', url: '/p/async-guard', headers: { 'x-allow': 'no' } },
  { method: 'GET', url: '/p/observable-guard' },
  { method: 'GET', url: '/p/observable-guard', headers: { 'x-allow': 'no' } },
  { method: 'GET', url: '/p/observable' },
  { method: 'GET', url: '/p/promise-of-observable' },
  { method: 'GET', url: '/p/nothing' },
  { method: 'GET', url: '/p/text' },
  { method: 'POST', url: '/p/created' },
  { method: 'POST', url: '/p/accepted' },
  { method: 'GET', url: '/p/passthrough' },
  { method: 'GET', url: '/p/manual' },
  { method: 'GET', url: '/p/intercepted' },
  { method: 'GET', url: '/p/throws' },
  { method: 'GET', url: '/p/rejects' },
  { method: 'GET', url: '/p/request?z=1' },
  { method: 'GET', url: '/p/param/abc', headers: { 'x-slow-send': '1' } },
  { method: 'GET', url: '/p/passthrough', headers: { 'x-slow-send': '1' } },
  { method: 'GET', url: '/p/rejects', headers: { 'x-slow-send': '1' } },
];

async function answer(app: NestFastifyApplication, call: Call) {
  seen = [];
  const res = await app.inject(call);
  const keep = ['content-type', 'x-custom', 'x-pass', 'content-length'];
  return {
    status: res.statusCode,
    body: res.body,
    headers: Object.fromEntries(keep.map((h) => [h, res.headers[h]])),
  };
}

/** Promises created while `app` answers `call` (async_hooks; a count, not a timing). */
async function promisesFor(app: NestFastifyApplication, call: Call): Promise<number> {
  let count = 0;
  const hook = createHook({
    init: (_id, type) => {
      if (type === 'PROMISE') count++;
    },
  });
  hook.enable();
  await app.inject(call);
  hook.disable();
  return count;
}

describe('the lean route handler', () => {
  let lean: NestFastifyApplication;
  let nest: NestFastifyApplication;

  beforeAll(async () => {
    const uninstall = installLeanRouter();
    try {
      lean = await build();
    } finally {
      uninstall();
    }
    nest = await build();
  });
  afterAll(async () => {
    await lean?.close();
    await nest?.close();
  });

  it.each(CALLS.map((c) => [`${c.method} ${c.url} ${JSON.stringify(c.headers ?? {})}`, c] as const))(
    'answers %s as Nest does',
    async (_name, call) => {
      expect(await answer(lean, call)).toEqual(await answer(nest, call));
    },
  );

  it('runs guards, pipes and handlers as Nest does, in its order', async () => {
    const param = await answer(lean, CALLS[0]);
    expect(param.status).toBe(200);
    expect(JSON.parse(param.body)).toEqual({
      id: 'abc|g|c|m|p',
      seen: ['g:param:id', 'c:param:id', 'm:param:id', 'p:param:id'],
    });
    expect((await answer(lean, CALLS[1])).status).toBe(400);
    expect((await answer(lean, CALLS[2])).status).toBe(403);
    expect((await answer(lean, CALLS[3])).status).toBe(401);
    const body = JSON.parse((await answer(lean, CALLS[4])).body);
    expect(body).toEqual({
      body: { tags: ['g', 'c', 'p'] },
      q: 'x|g|c|q',
      seen: ['g:query:q', 'g:body:', 'c:query:q', 'c:body:', 'q:query:q', 'p:body:'],
    });
    expect((await answer(lean, CALLS[6])).status).toBe(403);
    expect((await answer(lean, CALLS[8])).status).toBe(403);
    const accepted = await answer(lean, CALLS[14]);
    expect([accepted.status, accepted.headers['x-custom']]).toEqual([202, 'set']);
    expect(JSON.parse((await answer(lean, CALLS[17])).body)).toEqual({ wrapped: { inner: true } });
    expect(JSON.parse((await answer(lean, CALLS[20])).body)).toEqual({
      url: '/p/request?z=1',
      deco: 'deco:GET|g|c',
      seen: ['g:custom:deco', 'c:custom:deco'],
    });
  });

  it('makes far fewer promises per request than Nest', async () => {
    const call = CALLS[0];
    await promisesFor(lean, call); // first calls compile and cache
    await promisesFor(nest, call);
    const [leanCount, nestCount] = [await promisesFor(lean, call), await promisesFor(nest, call)];
    // Nest's chain is about 28 promises for a guarded route with one parameter pipe; the lean handler's is 1.
    expect(nestCount - leanCount).toBeGreaterThanOrEqual(15);
  });
});
