import type { LookupAddress, LookupOneOptions } from 'node:dns';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { OutboundPolicy } from './outbound-policy.js';

export interface OutboundFetchOptions {
  /** Deadline for the whole exchange, connect to last body byte. */
  timeoutMs: number;
  /** Largest response body read; a bigger one fails the call instead of being buffered. */
  maxResponseBytes: number;
}

/** The response was bigger than the outbound size limit. */
export class OutboundResponseTooLargeError extends Error {
  constructor(limit: number) {
    super(`response larger than ${limit} bytes`);
    this.name = 'OutboundResponseTooLargeError';
  }
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

  const outboundFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const url = policy.checkUrlSyntax(request.url);
    const signal = AbortSignal.any([AbortSignal.timeout(options.timeoutMs), request.signal]);
    const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    if (body) headers['content-length'] = String(body.length);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<Response>((resolve, reject) => {
      const fail = (err: unknown) => {
        if (signal.aborted) return reject(signal.reason);
        // The shape undici gives network failures, so callers classify policy refusals, size
        // overruns and resets alike (the cause says which).
        reject(new TypeError('fetch failed', { cause: err }));
      };
      const req = send(
        url,
        {
          method: request.method,
          headers,
          agent: agents[url.protocol as 'http:' | 'https:'],
          lookup: lookup as never,
          signal,
        },
        (res) => {
          readBody(res, options.maxResponseBytes).then(
            (buffer) => resolve(toResponse(res, buffer)),
            (err: unknown) => {
              req.destroy();
              fail(err);
            },
          );
        },
      );
      req.on('error', fail);
      req.end(body);
    });
  };
  return outboundFetch as typeof fetch;
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
