import type { LookupAddress, LookupOneOptions } from 'node:dns';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { OutboundPolicy } from './outbound-policy.js';

export interface OutboundFetchOptions {
  /** Default connect timeout and default deadline of a whole exchange (a call may set its own). */
  timeoutMs: number;
  /** Largest response body read; a bigger one fails the call instead of being buffered. */
  maxResponseBytes: number;
}

/** What a call may add to fetch's `init`; other fetch implementations ignore these fields. */
export interface OutboundRequestInit extends RequestInit {
  /**
   * The connection (DNS, TCP, TLS) must be up within this many ms, else the call fails and the
   * request was not sent. Default: the fetch's `timeoutMs`.
   */
  connectTimeoutMs?: number;
  /** Hard deadline of the whole exchange, in ms from the call, answer included. Default: `timeoutMs`. */
  deadlineMs?: number;
}

/** The response was bigger than the outbound size limit. */
export class OutboundResponseTooLargeError extends Error {
  constructor(limit: number) {
    super(`response larger than ${limit} bytes`);
    this.name = 'OutboundResponseTooLargeError';
  }
}

/**
 * An outbound call that failed, in the shape undici gives network failures (`TypeError('fetch
 * failed')`, the cause says why). `sent`: the request may have reached the server (a connection
 * was established, so the request was written or being written).
 */
export class OutboundRequestError extends TypeError {
  constructor(
    readonly sent: boolean,
    cause: unknown,
  ) {
    super('fetch failed', { cause });
  }
}

/** An outbound call that ran out of time or was aborted by its caller; named like fetch's errors. */
export class OutboundAbortError extends Error {
  constructor(
    readonly sent: boolean,
    message: string,
    name: 'TimeoutError' | 'AbortError',
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = name;
  }
}

/**
 * Whether a failed outbound call may have reached the server, read from the error or its chain of
 * causes (libraries wrap fetch errors); undefined when nothing says.
 */
export function requestSent(err: unknown): boolean | undefined {
  let e = err;
  for (let depth = 0; depth < 8 && e !== null && typeof e === 'object'; depth++) {
    const sent = (e as { sent?: unknown }).sent;
    if (typeof sent === 'boolean') return sent;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Runs `fn` once the I/O already received has been processed: a timer that fires late because the
 * event loop stalled runs before the poll phase reads what arrived meanwhile, so a deadline acted
 * on at once would throw away an answer that is already in the socket. Two check phases, so the
 * reads of the poll phase in between and the callbacks they queue have run.
 */
export function afterPendingIo(fn: () => void): void {
  setImmediate(() => setImmediate(fn));
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `fetch` for every call tokenkeeper makes to user-supplied URLs. Built on node:http(s) rather
 * than the global fetch because the policy must see the address actually dialled: the `lookup`
 * hook resolves the name and refuses loopback/private/metadata answers at connect time, so a name
 * that resolved to a public address at registration and to 169.254.169.254 later (DNS rebinding)
 * is still refused. Redirects are never followed; every call has a deadline and a size limit.
 *
 * Every failure says whether the request may have reached the server (`sent`, see
 * {@link requestSent}): failures before the connection is up (policy refusal, DNS, refused
 * connection, TLS, connect timeout) are not sent; anything after it is. A reused keep-alive
 * socket counts as connected at once: when the server closed it just before the request was
 * written, node reports a reset and cannot say whether any byte reached the server, so the call
 * is reported sent (outcome unknown), never "safe to retry". Deadlines act after pending I/O
 * (see {@link afterPendingIo}): an answer that arrived during a stall wins over the timer.
 */
export function createOutboundFetch(policy: OutboundPolicy, options: OutboundFetchOptions): typeof fetch {
  const lookup = (hostname: string, opts: LookupOneOptions & { all?: boolean }, callback: LookupCallback) => {
    policy
      .addressesOf(hostname)
      .then((addresses) => {
        if (opts?.all) {
          callback(
            null,
            addresses.map((address) => ({ address, family: isIP(address) })),
          );
        } else {
          const address = addresses[0]!;
          callback(null, address, isIP(address));
        }
      })
      .catch((err: Error) => callback(err as NodeJS.ErrnoException, '', 0));
  };
  const agents = {
    'http:': new HttpAgent({ keepAlive: true, lookup } as never),
    'https:': new HttpsAgent({ keepAlive: true, lookup } as never),
  };

  const outboundFetch = async (
    input: string | URL | Request,
    init?: OutboundRequestInit,
  ): Promise<Response> => {
    const connectTimeoutMs = init?.connectTimeoutMs ?? options.timeoutMs;
    const deadlineMs = init?.deadlineMs ?? options.timeoutMs;
    let request: Request;
    let url: URL;
    let body: Buffer | undefined;
    try {
      request = new Request(input, init);
      url = policy.checkUrlSyntax(request.url);
      body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
    } catch (err) {
      throw new OutboundRequestError(false, err);
    }
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    if (body) headers['content-length'] = String(body.length);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const callerSignal = request.signal;
    return new Promise<Response>((resolve, reject) => {
      let connected = false;
      let settled = false;
      const timers: NodeJS.Timeout[] = [];
      const finish = () => {
        settled = true;
        for (const timer of timers) clearTimeout(timer);
        callerSignal.removeEventListener('abort', onCallerAbort);
      };
      const succeed = (res: Response) => {
        if (settled) return;
        finish();
        resolve(res);
      };
      const fail = (err: Error) => {
        if (settled) return;
        finish();
        req.destroy();
        reject(err);
      };
      const timeout = (ms: number, message: () => string, applies: () => boolean) => {
        timers.push(
          setTimeout(
            () =>
              afterPendingIo(() => {
                if (!settled && applies()) fail(new OutboundAbortError(connected, message(), 'TimeoutError'));
              }),
            ms,
          ),
        );
      };
      function onCallerAbort() {
        afterPendingIo(() => {
          const reason = callerSignal.reason as { name?: string; message?: string } | undefined;
          const name = reason?.name === 'TimeoutError' ? 'TimeoutError' : 'AbortError';
          fail(new OutboundAbortError(connected, reason?.message ?? 'aborted', name, reason));
        });
      }

      const req = send(url, {
        method: request.method,
        headers,
        agent: agents[url.protocol as 'http:' | 'https:'],
        lookup: lookup as never,
      });
      const markConnected = () => {
        connected = true;
      };
      req.once('socket', (socket: Socket) => {
        if (req.reusedSocket || !socket.connecting) return markConnected();
        socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', markConnected);
      });
      req.once('response', (res) => {
        readBody(res, options.maxResponseBytes).then(
          (buffer) => succeed(toResponse(res, buffer)),
          (err: Error) => fail(new OutboundRequestError(true, err)),
        );
      });
      req.on('error', (err) => fail(new OutboundRequestError(connected, err)));
      timeout(
        connectTimeoutMs,
        () => `not connected within ${connectTimeoutMs} ms`,
        () => !connected,
      );
      timeout(
        deadlineMs,
        () =>
          connected
            ? `no answer within ${deadlineMs} ms after the request was sent`
            : `not connected within ${deadlineMs} ms`,
        () => true,
      );
      if (callerSignal.aborted) onCallerAbort();
      else callerSignal.addEventListener('abort', onCallerAbort, { once: true });
      req.end(body);
    });
  };
  return outboundFetch as typeof fetch;
}

/**
 * The outbound fetch for code that runs without the operator's policy (tests, embedded use): any
 * scheme, host and address except cloud metadata and link-local ones, with the same failure
 * reporting (`sent`) and deadline handling as the policed one.
 */
export function createUnpolicedOutboundFetch(
  options: OutboundFetchOptions = { timeoutMs: 30_000, maxResponseBytes: 1024 * 1024 },
): typeof fetch {
  return createOutboundFetch(
    new OutboundPolicy({ allowHttpHosts: ['*'], allowPrivate: true, allowLoopback: true, allowCidrs: [] }),
    options,
  );
}

function readBody(res: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      reject(err);
      res.destroy();
    };
    if (Number(res.headers['content-length']) > limit) return fail(new OutboundResponseTooLargeError(limit));
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return fail(new OutboundResponseTooLargeError(limit));
      chunks.push(chunk);
    });
    res.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(Buffer.concat(chunks));
    });
    res.on('error', fail);
    res.on('aborted', () => fail(new Error('response aborted')));
  });
}

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

function toResponse(res: IncomingMessage, body: Buffer): Response {
  const headers = new Headers();
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
    try {
      headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
    } catch {
      // A header value fetch would refuse; the grant never needs it.
    }
  }
  const status = res.statusCode ?? 502;
  return new Response(NULL_BODY.has(status) ? null : new Uint8Array(body), {
    status: status < 200 || status > 599 ? 502 : status,
    statusText: res.statusMessage ?? '',
    headers,
  });
}
