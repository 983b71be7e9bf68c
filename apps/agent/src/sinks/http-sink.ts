import type { HttpSinkConfig } from '../config/agent-config.js';
import { assertHeaderValue } from '../http/header-value.js';
import { describeRefusal, outboundFetch, policyRefusal } from '../http/outbound.js';
import { fullJitterDelay } from '../watch/backoff.js';
import type { Sink, SinkContext } from './sink.js';
import { renderJsonTemplate, renderTemplate } from './template.js';
import type { RenderInput } from './token-snapshot.js';

class HttpSinkError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * A registrar: POSTs a JSON body built from a template (seed 000's
 * `/sapi/node/neuron/register {uid, chain, netuid, type, account, token}`) and retries network
 * errors, timeouts, 5xx, 408 and 429 with backoff. Another 4xx is not retried within this run,
 * nor is a target the outbound policy refuses or a header value that cannot be sent.
 */
export class HttpSink implements Sink {
  readonly name: string;
  readonly credentialIds: readonly string[];
  private readonly fetch: typeof fetch;

  constructor(
    ownerId: string,
    private readonly config: HttpSinkConfig,
    private readonly ctx: SinkContext,
  ) {
    const url = new URL(config.url);
    this.name = `http:${url.origin}${url.pathname}`;
    this.credentialIds = [ownerId];
    this.fetch = outboundFetch(ctx.outboundPolicy, config.timeoutMs);
  }

  async run(input: RenderInput, signal: AbortSignal): Promise<void> {
    const { retries } = this.config;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.send(input, signal);
        return;
      } catch (err) {
        const retryable = !(err instanceof HttpSinkError) || err.retryable;
        if (!retryable || attempt >= retries.attempts || signal.aborted) throw err;
        const delay = fullJitterDelay(attempt, retries.baseMs, retries.capMs);
        this.ctx.logger.warn(
          { sink: this.name, attempt, retryInMs: delay, error: this.ctx.redactor.describe(err) },
          'registrar call failed, retrying',
        );
        await sleep(delay, signal);
      }
    }
  }

  private async send(input: RenderInput, signal: AbortSignal): Promise<void> {
    const { config } = this;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    for (const [k, v] of Object.entries(config.headers)) {
      const value = renderTemplate(v, input.token, input.now);
      try {
        headers[k] = assertHeaderValue(
          value,
          `header ${k} rendered from credential ${input.token.credentialId}`,
        );
      } catch (err) {
        throw new HttpSinkError((err as Error).message, false);
      }
    }
    const body = JSON.stringify(renderJsonTemplate(config.body, input.token, input.now));
    let res: Response;
    try {
      res = await this.fetch(config.url, {
        method: config.method,
        headers,
        body,
        redirect: 'error',
        signal: AbortSignal.any([signal, AbortSignal.timeout(config.timeoutMs)]),
      });
    } catch (err) {
      const refusal = policyRefusal(err);
      if (refusal) throw new HttpSinkError(`${this.name.slice(5)}: ${describeRefusal(refusal)}`, false);
      const cause = (err as Error & { cause?: { code?: string } }).cause;
      const what =
        (err as Error).name === 'TimeoutError'
          ? `timed out after ${config.timeoutMs} ms`
          : (cause?.code ?? (err as Error).message);
      throw new HttpSinkError(`${config.method} ${this.name.slice(5)}: ${what}`, true);
    }
    await res.body?.cancel().catch(() => {});
    if (res.ok) return;
    const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
    throw new HttpSinkError(`${config.method} ${this.name.slice(5)} answered ${res.status}`, retryable);
  }
}
