// One HTTP exchange with a provider's API, and what each way it can fail proves about the message (at most
// once): the one place the Twilio and MSG91 providers share. Each provider then reads its own answer.
import { Agent, fetch } from 'undici';
import { DELIVERY_UNKNOWN } from '../message.types';
import { failedBeforeWrite, ProviderError } from './provider';

/** Half the send's timeout, at most 5 s: a connect that takes longer is not coming. */
export const connectTimeoutMs = (timeoutMs: number) => Math.min(5000, Math.floor(timeoutMs / 2));

/** The send's outcome is unknown (the provider may have the message): failed, never sent again. */
export const unknownOutcome = (why: string) =>
  new ProviderError(
    `${DELIVERY_UNKNOWN}: ${why}; not sent again to avoid a duplicate`,
    'unknown',
    DELIVERY_UNKNOWN,
  );

export interface ProviderAnswer<T> {
  status: number;
  statusText: string;
  ok: boolean;
  /** The answer read whole, as a JSON object. */
  body: T;
}

export class ProviderHttp {
  /**
   * Connections with a connect timeout well inside the send's own: a connect that never completes (a firewall
   * dropping SYNs, a dead route) then fails as a connect timeout, which proves nothing was written, and is
   * retried; with only the overall timeout it would read as "no answer in time", whose outcome is unknown.
   */
  private readonly dispatcher: Agent;

  constructor(
    private readonly provider: string,
    private readonly timeoutMs: number,
  ) {
    this.dispatcher = new Agent({ connect: { timeout: connectTimeoutMs(timeoutMs) } });
  }

  /**
   * POSTs and reads the whole answer as a JSON object. Throws what a failure proves: refused or unresolvable
   * before a byte was written, `not_sent`; a reset or a timeout after, or an answer that broke off (the part
   * not read may hold the provider's message id), `unknown`; a whole 429 or 5xx that is not JSON (a load
   * balancer's page, no id in it), `refused`; any other answer that is not JSON, `unknown`.
   */
  async post<T extends object>(
    url: string,
    headers: Record<string, string>,
    body: string | URLSearchParams,
  ): Promise<ProviderAnswer<T>> {
    const name = this.provider;
    let res: Awaited<ReturnType<typeof fetch>>;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
        dispatcher: this.dispatcher,
        // Never followed: a redirect would POST the message again, to wherever it points (a loop sends it
        // twenty times; another origin would receive the provider's key header). Read as a refusal below.
        redirect: 'manual',
      });
    } catch (err) {
      if (failedBeforeWrite(err))
        throw new ProviderError(`${name} unreachable: ${describe(err)}`, 'not_sent', 'NETWORK');
      // The provider's API has no idempotency key: sending again could duplicate it. Its own delivery
      // report (it carries the message's id) still tells what became of it.
      if ((err as Error).name === 'TimeoutError')
        throw unknownOutcome(`${name} did not answer within ${this.timeoutMs} ms`);
      throw unknownOutcome(`the connection to ${name} failed after the request was sent (${describe(err)})`);
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => undefined);
      // The provider did not take the message at this address (a moved endpoint, a load balancer).
      throw new ProviderError(
        `${name} answered ${res.status} (a redirect, not followed)`,
        'refused',
        `HTTP_${res.status}`,
      );
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw unknownOutcome(`${name}'s ${res.status} answer broke off (${describe(err)})`);
    }
    try {
      const parsed = JSON.parse(text) as T;
      if (!parsed || typeof parsed !== 'object') throw new Error('not a JSON object');
      return { status: res.status, statusText: res.statusText, ok: res.ok, body: parsed };
    } catch (err) {
      if (res.status === 429 || res.status >= 500)
        throw new ProviderError(`${name} ${res.status}: ${res.statusText}`, 'refused', `HTTP_${res.status}`);
      throw unknownOutcome(`${name} answered ${res.status} unreadably (${describe(err)})`);
    }
  }
}

/** The error and its network cause (fetch reports "fetch failed" with the socket error as `cause`). */
function describe(err: unknown): string {
  const e = err as Error & { cause?: Error & { code?: string } };
  return e.cause ? `${e.message}: ${e.cause.code ?? e.cause.message}` : e.message;
}
