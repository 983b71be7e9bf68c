import {
  type ApiResponse,
  type Query,
  TokenkeeperApiClient,
  TokenkeeperApiError,
  TokenkeeperUnreachableError,
} from '#client';
import type { Connection } from './cli-config.js';
import { CliError, problemError } from './cli-error.js';
import { ExitCode } from './exit-codes.js';

export type { ApiResponse, Query };

/**
 * The SDK's API client, with every failure turned into a CliError (a message, the problem's
 * fields, a hint and an exit code) for the command that was running (`what`).
 */
export class ApiClient {
  private readonly api: TokenkeeperApiClient;

  constructor(
    readonly connection: Connection,
    timeoutMs = 60_000,
    fetchImpl: typeof fetch = fetch,
  ) {
    this.api = new TokenkeeperApiClient({
      baseUrl: connection.url,
      apiKey: connection.apiKey,
      timeoutMs,
      fetch: fetchImpl,
    });
  }

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

  async request<T>(
    method: string,
    path: string,
    opts: { query?: Query | undefined; body?: unknown; what: string; signal?: AbortSignal },
  ): Promise<ApiResponse<T>> {
    try {
      return await this.api.request<T>(method, path, opts);
    } catch (err) {
      if (err instanceof TokenkeeperUnreachableError) throw unreachable(this.connection, err.reason);
      if (err instanceof TokenkeeperApiError && err.is('UNEXPECTED_RESPONSE') && err.status < 300)
        throw new CliError(
          `the API answered ${method} ${path} with something that is not JSON`,
          ExitCode.Api,
          {
            hint: `check that ${this.connection.url} is a tokenkeeper API`,
          },
        );
      if (err instanceof TokenkeeperApiError)
        throw problemError(err.status, err.problem ?? { title: `HTTP ${err.status}` }, opts.what);
      throw err;
    }
  }
}

/** The API could not be reached at all (`reason`: `ECONNREFUSED`, `no answer within … ms`, …). */
export function unreachable(connection: Connection, reason: string): CliError {
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
