// Routing and failover between SMS providers (SMS_ROUTES): the longest destination prefix picks an ordered
// list of providers; a send that proves nothing left a provider (ProviderError.retryable: not sent, or refused)
// goes on to the next, as does one whose provider's circuit is open. An answer whose outcome is unknown, or a
// rejection, stops there: trying another provider could send the message twice, or would be refused the same.
import { EXPIRED, type MessageRow, type MessageType } from '../message.types';
import { expired, expiredError, MessageProvider, ProviderError, SendResult } from './provider';

/** `+91=msg91>smpp;*=twilio` read: prefix ('' for `*`) → providers in order. */
export interface Route {
  prefix: string;
  providers: string[];
}

/** One provider tried for a send, as the message answer's `attempts` lists it. */
export interface Attempt {
  provider: string;
  outcome: 'sent' | 'failed' | 'skipped';
  error?: string;
}

export type CircuitState = 'closed' | 'open' | 'half_open';

export interface CircuitOptions {
  /** Consecutive failures that open it. */
  failures: number;
  /** How long it stays open before one probe is let through (half open). */
  openMs: number;
}

/** Parses SMS_ROUTES; throws an Error naming what is wrong. A `*` route is added when none is given. */
export function parseRoutes(text: string, fallback: string, known: readonly string[]): Route[] {
  const routes: Route[] = [];
  for (const part of text
    .split(';')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(\*|\+\d{1,15})=([a-z0-9]+(?:>[a-z0-9]+)*)$/.exec(part.replace(/\s+/g, ''));
    if (!m) throw new Error(`"${part.slice(0, 40)}" is not prefix=provider>provider (e.g. +91=msg91>smpp)`);
    const providers = m[2].split('>');
    for (const p of providers)
      if (!known.includes(p)) throw new Error(`${p} is not a provider (${known.join(', ')})`);
    if (new Set(providers).size !== providers.length) throw new Error(`${part} lists a provider twice`);
    const prefix = m[1] === '*' ? '' : m[1];
    if (routes.some((r) => r.prefix === prefix)) throw new Error(`${m[1]} has two routes`);
    routes.push({ prefix, providers });
  }
  if (!routes.some((r) => r.prefix === '')) routes.push({ prefix: '', providers: [fallback] });
  return routes.sort((a, b) => b.prefix.length - a.prefix.length);
}

/**
 * The longest a live send may take: every provider of the longest route, each with up to two provider timeouts
 * (SMPP waits for a window slot, then for submit_sm_resp), and one more for good measure. A message in
 * `sending` longer than this was interrupted (its worker died); the relay settles it.
 */
export function sendBudgetMs(routes: Route[], providerTimeoutMs: number): number {
  const longest = Math.max(1, ...routes.map((r) => r.providers.length));
  return providerTimeoutMs * (2 * longest + 1);
}

/** The providers for a destination: the route with the longest matching prefix. */
export function routeFor(routes: Route[], to: string): string[] {
  return routes.find((r) => to.startsWith(r.prefix))!.providers;
}

/** A circuit breaker per provider (per process): closed → open after N failures → half open → one probe. */
export class Circuit {
  private state: CircuitState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probing = false;

  constructor(
    private readonly opts: CircuitOptions,
    private readonly onChange: (state: CircuitState) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get current(): CircuitState {
    if (this.state === 'open' && this.now() - this.openedAt >= this.opts.openMs) this.set('half_open');
    return this.state;
  }

  /** Whether a send may go through now (half open: one probe at a time). */
  allow(): boolean {
    const s = this.current;
    if (s === 'closed') return true;
    if (s === 'half_open' && !this.probing) return (this.probing = true);
    return false;
  }

  /** A send let through that did not go out after all (its rate was used up): frees a half-open probe. */
  release(): void {
    this.probing = false;
  }

  succeeded(): void {
    this.failures = 0;
    this.probing = false;
    if (this.state !== 'closed') this.set('closed');
  }

  failed(): void {
    this.probing = false;
    this.failures++;
    if (this.state === 'half_open' || this.failures >= this.opts.failures) {
      this.openedAt = this.now();
      this.failures = 0;
      this.set('open');
    }
  }

  private set(state: CircuitState): void {
    this.state = state;
    this.onChange(state);
  }
}

/** Sends through the route's providers in order, failing over as the header says. */
export class SmsRouter implements MessageProvider {
  readonly name = 'router';
  private readonly circuits = new Map<string, Circuit>();

  constructor(
    private readonly routes: Route[],
    private readonly providers: Map<string, MessageProvider>,
    circuit: CircuitOptions,
    onCircuit: (provider: string, state: CircuitState) => void = () => undefined,
    /** Takes one send from a provider's rate (SMS_PROVIDER_RATES); false when it has none left this second. */
    private readonly takeRate: (provider: string) => Promise<boolean> = async () => true,
  ) {
    for (const name of providers.keys())
      this.circuits.set(name, new Circuit(circuit, (s) => onCircuit(name, s)));
  }

  // Nest calls the lifecycle hooks of the router (the injected provider): it passes them on (the SMPP
  // provider binds at start and unbinds at shutdown).
  async onApplicationBootstrap(): Promise<void> {
    for (const p of this.providers.values())
      await (p as Partial<{ onApplicationBootstrap(): unknown }>).onApplicationBootstrap?.();
  }

  async onApplicationShutdown(): Promise<void> {
    for (const p of this.providers.values())
      await (p as Partial<{ onApplicationShutdown(): unknown }>).onApplicationShutdown?.();
  }

  /** One of the providers, by name (tests, health). */
  provider(name: string): MessageProvider | undefined {
    return this.providers.get(name);
  }

  circuit(name: string): CircuitState | undefined {
    return this.circuits.get(name)?.current;
  }

  /** MMS and WhatsApp go only through the providers that carry them (SMPP and MSG91 send SMS only). */
  private carriedBy(name: string, type: MessageType): boolean {
    return this.providers.get(name)!.carries?.(type) ?? true;
  }

  /**
   * The providers for a message: its destination's route, keeping those that carry its type. When none of that
   * route does (`+91=msg91>smpp` and a WhatsApp message), the default route's carriers, then any configured
   * provider that carries it: routes are written for SMS, and a WhatsApp code to India must still go out.
   */
  providersFor(m: Pick<MessageRow, 'to' | 'type'>): string[] {
    const route = routeFor(this.routes, m.to);
    const carrying = route.filter((n) => this.carriedBy(n, m.type));
    if (carrying.length) return carrying;
    const fallback = routeFor(this.routes, '').filter((n) => this.carriedBy(n, m.type));
    if (fallback.length) return fallback;
    const any = [...this.providers.keys()].filter((n) => this.carriedBy(n, m.type));
    // None carries it at all: the route's first says why (and rejects it, so nothing is retried).
    return any.length ? any.slice(0, 1) : route.slice(0, 1);
  }

  async send(m: MessageRow): Promise<SendResult> {
    const attempts: Attempt[] = [];
    const names = this.providersFor(m);
    // An open circuit skips its provider while another of the route can take the message. When every one is
    // open they are all tried anyway: skipping them all would only delay the message, and the queue's backoff
    // already paces its retries.
    const allowed = new Set(names.filter((n) => this.circuits.get(n)!.allow()));
    const forced = allowed.size === 0;
    const untried = new Set(allowed);
    let last: ProviderError | undefined;
    let paced: ProviderError | undefined;
    try {
      for (const name of names) {
        const circuit = this.circuits.get(name)!;
        untried.delete(name);
        if (!forced && !allowed.has(name)) {
          attempts.push({ provider: name, outcome: 'skipped', error: 'CIRCUIT_OPEN' });
          continue;
        }
        if (expired(m)) {
          // The last provider took long to fail (a connect timeout, a bind or a window slot that never came):
          // what is left of the route would send it late.
          circuit.release();
          const err = expiredError();
          err.attempts = attempts;
          throw err;
        }
        if (!(await this.takeRate(name))) {
          // Its rate is used up this second: the next provider, or (none left) a retry once the second is
          // over, which is pacing, not a failure (RATE_LIMITED: the sender re-queues it without using one
          // of its attempts).
          circuit.release();
          attempts.push({ provider: name, outcome: 'skipped', error: RATE_LIMITED });
          paced ??= new ProviderError(`${name}'s send rate is used up for now`, 'not_sent', RATE_LIMITED);
          continue;
        }
        try {
          const result = await this.providers.get(name)!.send(m);
          circuit.succeeded();
          attempts.push({ provider: name, outcome: 'sent' });
          return { ...result, provider: name, attempts };
        } catch (raw) {
          const err =
            raw instanceof ProviderError
              ? raw
              : new ProviderError((raw as Error).message, 'unknown', undefined);
          // A rejection is the message's fault (an invalid number), not the provider's; an expiry found by the
          // provider (it waited for a slot) says nothing about it either.
          if (err.code === EXPIRED) circuit.release();
          else if (err.kind !== 'rejected') circuit.failed();
          else circuit.succeeded();
          attempts.push({ provider: name, outcome: 'failed', error: err.code ?? err.kind });
          err.provider = name;
          err.attempts = attempts;
          if (!err.retryable) throw err;
          last = err;
        }
      }
    } finally {
      // A half-open probe let through but never used (an earlier provider sent it) is given back.
      for (const name of untried) this.circuits.get(name)!.release();
    }
    // A provider that failed is what the send says; when only rates held it back, that is pacing.
    const err = (last ?? paced)!;
    err.attempts = attempts;
    throw err;
  }
}

/** The code of a send held back by the providers' rates: the sender re-queues it for the next second. */
export const RATE_LIMITED = 'RATE_LIMITED';
