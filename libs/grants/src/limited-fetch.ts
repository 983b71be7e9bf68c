import { afterPendingIo, type OutboundRequestInit, requestSent, workerIdentityHeaders } from '#common';

/** Largest response body read from a token endpoint or Vault; anything bigger is refused, not buffered. */
export const MAX_RESPONSE_BYTES = 256 * 1024;

/** A response body that went past the size limit. */
export class ResponseTooLargeError extends Error {
  constructor(limit: number) {
    super(`response larger than ${limit} bytes`);
  }
}

/** What one grant's HTTP exchange got to, for classifying a failure and dating a result. */
export interface GrantExchange {
  /** When the last request was handed to the fetch (epoch ms); absent = nothing was sent. */
  startedAt?: number;
  /** HTTP status of the last answer, once one arrived. */
  status?: number;
}

/**
 * Whether the request behind a failure may have reached the server: not when the exchange never
 * started, yes once an answer arrived, otherwise what the fetch's error says (undefined: unknown).
 */
export function exchangeSent(err: unknown, exchange: GrantExchange | undefined): boolean | undefined {
  if (exchange && exchange.startedAt === undefined) return false;
  if (exchange?.status !== undefined) return true;
  return requestSent(err);
}

/** What a failed exchange tells the classification: the status of its answer, whether it was sent, how long it ran. */
export function exchangeFacts(
  err: unknown,
  exchange: GrantExchange | undefined,
  now: number,
): { status?: number; sent?: boolean; afterMs?: number } {
  const sent = exchangeSent(err, exchange);
  return {
    ...(exchange?.status !== undefined ? { status: exchange.status } : {}),
    ...(sent !== undefined ? { sent } : {}),
    ...(exchange?.startedAt !== undefined ? { afterMs: Math.max(0, now - exchange.startedAt) } : {}),
  };
}

export interface LimitedFetchOptions {
  /** Soft timeout: the connection must be up within it (the outbound fetch enforces it). */
  timeoutMs: number;
  /** Hard deadline of the whole exchange, ms from the call; default `timeoutMs`. */
  deadlineMs?: number;
  /** Largest response body; default MAX_RESPONSE_BYTES. */
  limit?: number;
  /** Filled in as the exchange goes. */
  exchange?: GrantExchange;
  now?: () => number;
}

/**
 * Wraps fetch for a grant: a hard deadline, a response size limit, redirects not followed (a
 * token endpoint that redirects would otherwise carry credentials to wherever it points), the
 * worker identity header when enabled. The connect timeout and the deadline also travel to the
 * outbound fetch (OutboundRequestInit), which knows when the request was sent.
 *
 * Aborts, from the deadline or from the caller's signal (openid-client's own timeout), act only
 * after pending I/O: when the event loop stalled past the deadline while the answer was arriving,
 * the answer already in the socket wins.
 */
export function limitedFetch(
  fetchImpl: typeof fetch,
  options: LimitedFetchOptions,
): (url: string, init: RequestInit) => Promise<Response> {
  const deadlineMs = Math.max(options.timeoutMs, options.deadlineMs ?? options.timeoutMs);
  const limit = options.limit ?? MAX_RESPONSE_BYTES;
  const now = options.now ?? Date.now;
  return async (url, init) => {
    const controller = new AbortController();
    const abortLater = (reason: unknown) => afterPendingIo(() => controller.abort(reason));
    const timer = setTimeout(
      () => abortLater(new DOMException(`no answer within ${deadlineMs} ms`, 'TimeoutError')),
      deadlineMs,
    );
    const caller = init.signal;
    const onCallerAbort = () => abortLater(caller?.reason);
    if (caller?.aborted) onCallerAbort();
    else caller?.addEventListener('abort', onCallerAbort, { once: true });
    const headers = new Headers(init.headers);
    for (const [name, value] of Object.entries(workerIdentityHeaders())) headers.set(name, value);
    const exchange = options.exchange;
    try {
      if (exchange) {
        exchange.startedAt = now();
        delete exchange.status;
      }
      const res = await fetchImpl(url, {
        ...init,
        headers,
        signal: controller.signal,
        redirect: 'manual',
        connectTimeoutMs: options.timeoutMs,
        deadlineMs,
      } as OutboundRequestInit);
      if (exchange) exchange.status = res.status;
      const body = await readLimited(res, limit);
      return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    } finally {
      clearTimeout(timer);
      caller?.removeEventListener('abort', onCallerAbort);
    }
  };
}

async function readLimited(res: Response, limit: number): Promise<Uint8Array | null> {
  if (!res.body) return null;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) throw new ResponseTooLargeError(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
