import type { Connection } from './cli-config.js';
import { CliError, problemError } from './cli-error.js';
import { ExitCode } from './exit-codes.js';

export interface ApiResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

export type Query = Record<string, string | number | undefined | (string | undefined)[]>;

/** A small JSON client for the tokenkeeper API that turns every failure into a CliError. */
export class ApiClient {
  constructor(
    readonly connection: Connection,
    private readonly timeoutMs = 60_000,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  get<T>(path: string, query?: Query, what = 'read this'): Promise<T> {
    return this.request<T>('GET', path, { query, what }).then((r) => r.body);
  }

  post<T>(path: string, body: unknown, what = 'do this'): Promise<T> {
    return this.request<T>('POST', path, { body, what }).then((r) => r.body);
  }

  patch<T>(path: string, body: unknown, what = 'change this'): Promise<T> {
    return this.request<T>('PATCH', path, { body, what }).then((r) => r.body);
  }

  delete(path: string, what = 'delete this'): Promise<void> {
    return this.request<void>('DELETE', path, { what }).then(() => undefined);
  }

  url(path: string, query?: Query): string {
    const url = new URL(`${this.connection.url}${path}`);
    for (const [key, value] of Object.entries(query ?? {})) {
      for (const v of Array.isArray(value) ? value : [value]) {
        if (v !== undefined && v !== '') url.searchParams.append(key, String(v));
      }
    }
    return url.toString();
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      accept: 'application/json, application/problem+json',
      ...(this.connection.apiKey ? { authorization: `Bearer ${this.connection.apiKey}` } : {}),
      ...extra,
    };
  }

  async request<T>(
    method: string,
    path: string,
    opts: { query?: Query | undefined; body?: unknown; what: string; signal?: AbortSignal },
  ): Promise<ApiResponse<T>> {
    const url = this.url(path, opts.query);
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method,
        headers: this.headers(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        signal: opts.signal ?? AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw unreachable(this.connection, err);
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      throw problemError(
        res.status,
        body ?? { title: `HTTP ${res.status}`, detail: text.slice(0, 200) },
        opts.what,
      );
    }
    if (text && body === undefined) {
      throw new CliError(`the API answered ${method} ${path} with something that is not JSON`, ExitCode.Api, {
        hint: `check that ${this.connection.url} is a tokenkeeper API`,
      });
    }
    return { status: res.status, headers: res.headers, body: body as T };
  }
}

/** The API could not be reached at all. */
export function unreachable(connection: Connection, err: unknown): CliError {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const reason =
    e.name === 'TimeoutError' ? 'timed out' : (e.cause?.code ?? e.cause?.message ?? e.message ?? String(err));
  const from =
    connection.source.url === 'env'
      ? 'TOKENKEEPER_URL'
      : connection.source.url === 'config'
        ? 'the URL saved by `tokenkeeper login`'
        : 'the default URL (run `tokenkeeper login --url ...`)';
  return new CliError(
    `cannot reach the tokenkeeper API at ${connection.url} (${reason})`,
    ExitCode.Unavailable,
    {
      hint: `is the api running? The URL comes from ${from}`,
    },
  );
}
