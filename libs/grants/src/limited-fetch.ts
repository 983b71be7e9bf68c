/** Largest response body read from a token endpoint or Vault; anything bigger is refused, not buffered. */
export const MAX_RESPONSE_BYTES = 256 * 1024;

/** A response body that went past the size limit. */
export class ResponseTooLargeError extends Error {
  constructor(limit: number) {
    super(`response larger than ${limit} bytes`);
  }
}

/**
 * Wraps fetch with a hard deadline and a response size limit; redirects are not followed (a
 * token endpoint that redirects would otherwise carry credentials to wherever it points).
 */
export function limitedFetch(
  fetchImpl: typeof fetch,
  timeoutMs: number,
  limit: number = MAX_RESPONSE_BYTES,
): (url: string, options: RequestInit) => Promise<Response> {
  return async (url, options) => {
    const signal = AbortSignal.any([
      AbortSignal.timeout(timeoutMs),
      ...(options.signal ? [options.signal] : []),
    ]);
    const res = await fetchImpl(url, { ...options, signal, redirect: 'manual' } as RequestInit);
    const body = await readLimited(res, limit);
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
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
