import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One Prometheus registry per process (not prom-client's global one, so that several apps in one test
 * process do not collide). Modules ask for their metrics here; asking twice returns the same metric.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'smsb_' });
    this.httpDuration = this.histogram(
      'smsb_http_request_duration_seconds',
      'HTTP request duration by route and status',
      ['method', 'route', 'status'],
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    );
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return (
      (this.registry.getSingleMetric(name) as Counter<L>) ??
      new Counter({ name, help, labelNames, registers: [this.registry] })
    );
  }

  gauge<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    collect?: (this: Gauge<L>) => void | Promise<void>,
  ): Gauge<L> {
    return (
      (this.registry.getSingleMetric(name) as Gauge<L>) ??
      new Gauge({ name, help, labelNames, registers: [this.registry], collect })
    );
  }

  histogram<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets?: number[],
  ): Histogram<L> {
    return (
      (this.registry.getSingleMetric(name) as Histogram<L>) ??
      new Histogram({ name, help, labelNames, buckets, registers: [this.registry] })
    );
  }
}

/**
 * Observes request durations into `histogram`, keeping the labelled child of each method, route and status
 * (a bounded set: route templates, not paths), so a request does not hash its label set again.
 */
export function durationObserver(histogram: Histogram<'method' | 'route' | 'status'>) {
  const children = new Map<string, { observe(value: number): void }>();
  return (method: string, route: string | undefined, status: number, elapsedMs: number): void => {
    const key = `${method} ${status} ${route}`;
    let child = children.get(key);
    if (!child) {
      child = histogram.labels({ method, route: route ?? 'unmatched', status: String(status) });
      children.set(key, child);
    }
    child.observe(elapsedMs / 1000);
  };
}
