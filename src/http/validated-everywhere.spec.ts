// Validation is per parameter (see `Validated`), not global: this walks every controller so that a body, query
// or path parameter added without a pipe fails here instead of reaching a service unchecked. It also checks that
// a path parameter that looks secret is declared as such, so that logged URLs show its tag (common/mask.ts).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { SECRET_ROUTES } from '../common/mask';
import { MobileNumberPipe, readMobileParam } from '../common/phone';
import { BoundedValidationPipe } from './validation.pipe';
import { readSessionIdParam } from '../session/session.controller';
import { TemplateNamePipe } from '../templates/templates.controller';

const SRC = join(__dirname, '..');

function controllerFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return controllerFiles(path);
    return name.endsWith('.controller.ts') ? [path] : [];
  });
}

type Arg = { index: number; data?: unknown; pipes: unknown[]; factory?: unknown };
const CHECKED = [RouteParamtypes.BODY, RouteParamtypes.QUERY, RouteParamtypes.PARAM];
/** Parameter decorators that read a path parameter and check it themselves (no pipe: fewer promises). */
const CHECKING_DECORATORS: unknown[] = [readMobileParam, readSessionIdParam];

describe('every body, query and path parameter is validated', () => {
  const controllers = controllerFiles(SRC).flatMap((file) =>
    // Every controller file, found on disk, so that a new one is checked without being listed here.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    Object.values(require(file) as Record<string, unknown>).filter(
      (v): v is new (...a: never[]) => object =>
        typeof v === 'function' && Reflect.hasMetadata(PATH_METADATA, v),
    ),
  );

  it('finds the controllers', () => {
    expect(controllers.map((c) => c.name)).toEqual(
      expect.arrayContaining(['OnboardingController', 'MessagesController', 'OtpController']),
    );
  });

  it('gives each of them a pipe', () => {
    const unchecked: string[] = [];
    let checked = 0;
    for (const controller of controllers) {
      for (const method of Object.getOwnPropertyNames(controller.prototype)) {
        const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, method) ?? {}) as Record<
          string,
          Arg
        >;
        for (const [key, arg] of Object.entries(args)) {
          if (CHECKING_DECORATORS.includes(arg.factory)) {
            checked++;
            continue;
          }
          const type = Number(key.split(':')[0]) as RouteParamtypes;
          if (!CHECKED.includes(type)) continue;
          checked++;
          const ok = arg.pipes.some(
            (p) =>
              p instanceof BoundedValidationPipe ||
              p instanceof MobileNumberPipe ||
              p instanceof TemplateNamePipe,
          );
          if (!ok) unchecked.push(`${controller.name}.${method} argument ${arg.index}`);
        }
      }
    }
    expect(unchecked).toEqual([]);
    expect(checked).toBeGreaterThan(20);
  });

  it('declares every route whose path parameter looks secret in SECRET_ROUTES (logged as a tag)', () => {
    const path = (target: object) => String(Reflect.getMetadata(PATH_METADATA, target));
    const routes = controllers.flatMap((controller) =>
      Object.getOwnPropertyNames(controller.prototype).flatMap((method) => {
        const handler = (controller.prototype as Record<string, object>)[method];
        if (!Reflect.hasMetadata(PATH_METADATA, handler)) return [];
        return [`/${`${path(controller)}/${path(handler)}`.split('/').filter(Boolean).join('/')}`];
      }),
    );
    expect(routes).toContain('/webhooks/msg91/status/:token');
    const secret = routes.filter((r) => /:[^/]*(token|secret|key|password|signature)/i.test(r));
    expect(secret.filter((r) => !SECRET_ROUTES.includes(r))).toEqual([]);
  });
});
