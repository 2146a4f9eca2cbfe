import { HttpException } from '@nestjs/common';

/**
 * A domain error with a stable machine-readable code. `extra` fields are merged into the answer body
 * (e.g. attempts_remaining); `retryAfterSeconds` also becomes the Retry-After header.
 */
export class AppException extends HttpException {
  constructor(
    status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly retryAfterSeconds?: number,
  ) {
    super({ code, message, ...extra }, status);
  }
}

/** Thrown when a store the request needs is unreachable: the answer is 503, not 500. */
export class DependencyUnavailableException extends AppException {
  constructor(dependency: 'redis' | 'database' | 'queue', retryAfterSeconds = 1) {
    super(
      503,
      `${dependency.toUpperCase()}_UNAVAILABLE`,
      `The service cannot reach its ${dependency} right now; try again shortly`,
      {},
      retryAfterSeconds,
    );
  }
}
