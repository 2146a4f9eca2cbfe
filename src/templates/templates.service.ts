import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InvalidationBus } from '../redis/invalidation.service';
import { checkTemplate, Template, TemplateError } from './template';
import { TemplatesRepository } from './templates.repository';

const TOPIC = 'templates';
/** A safety net beside pub/sub: every replica re-reads the templates at least this often. */
const REFRESH_MS = 60_000;

/**
 * Templates live in Postgres and are held in memory by every replica, so rendering one costs no I/O. A change
 * reaches every replica through pub/sub; a name not in memory (made a moment ago elsewhere) is read through.
 */
@Injectable()
export class TemplatesService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Templates');
  private byName = new Map<string, Template>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly repo: TemplatesRepository,
    private readonly bus: InvalidationBus,
  ) {}

  async onModuleInit(): Promise<void> {
    this.bus.on(TOPIC, () => this.refresh().catch(() => undefined));
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), REFRESH_MS);
    this.timer.unref();
    await this.refresh().catch((err: Error) =>
      this.logger.warn(`templates not loaded yet (${err.message}); read on first use`),
    );
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    const all = await this.repo.all();
    this.byName = new Map(all.map((t) => [t.name, t]));
  }

  /** From memory, else from Postgres; null when there is no such template. */
  async find(name: string): Promise<Template | null> {
    const held = this.byName.get(name);
    if (held) return held;
    const read = await this.repo.find(name);
    if (read) this.byName.set(name, read);
    return read;
  }

  /** The template, or 400 TEMPLATE_NOT_FOUND. */
  async get(name: string): Promise<Template> {
    const t = await this.find(name);
    if (!t) throw new TemplateError('TEMPLATE_NOT_FOUND', `there is no template ${name}`);
    return t;
  }

  list(): Promise<Template[]> {
    return this.repo.all();
  }

  async save(t: Template): Promise<{ template: Template; created: boolean }> {
    checkTemplate(t);
    const saved = await this.repo.save(t);
    this.byName.set(t.name, saved.template);
    await this.bus.publish(TOPIC).catch(() => undefined); // the periodic refresh covers a Redis outage
    return saved;
  }

  async delete(name: string): Promise<boolean> {
    const gone = await this.repo.delete(name);
    this.byName.delete(name);
    await this.bus.publish(TOPIC).catch(() => undefined);
    return gone;
  }
}
