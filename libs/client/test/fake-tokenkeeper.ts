/**
 * A small stand-in for tokenkeeper's HTTP API, enough for the SDK's unit tests: the token and
 * invalidate routes with the real response shapes, and an SSE stream the test writes to. Its clock
 * is the test's clock, so expiry is deterministic.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeTokenkeeperOptions {
  now: () => number;
  credentialId?: string;
  /** Lifetime of each token it mints, ms (default 300 000). */
  lifetimeMs?: number;
  /** Delay before answering a refresh, ms (default 20): makes callers overlap. */
  refreshDelayMs?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  lastEventId: string | undefined;
  body: string;
}

type Override = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface FakeTokenkeeper {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** The token the service would serve now. */
  readonly current: { accessToken: string; version: number; expiresAt: number };
  /** Number of refreshes it performed. */
  readonly refreshes: number;
  /** Answer every request with this instead (return false to fall through). */
  override(fn: Override | undefined): void;
  /** Mints the next token now (like a scheduled refresh). */
  rotate(): void;
  /** Open SSE connections. */
  readonly streams: ServerResponse[];
  /** Writes raw text to every open SSE connection. */
  write(text: string): void;
  /** Drops every open SSE connection. */
  dropStreams(): void;
  stop(): Promise<void>;
}

export async function startFakeTokenkeeper(opts: FakeTokenkeeperOptions): Promise<FakeTokenkeeper> {
  const credentialId = opts.credentialId ?? 'cred-1';
  const lifetimeMs = opts.lifetimeMs ?? 300_000;
  const refreshDelayMs = opts.refreshDelayMs ?? 20;
  const requests: RecordedRequest[] = [];
  const streams: ServerResponse[] = [];
  let refreshes = 0;
  let override: Override | undefined;
  const current = { accessToken: 'at-1', version: 1, expiresAt: opts.now() + lifetimeMs };
  const rotate = () => {
    refreshes += 1;
    current.version += 1;
    current.accessToken = `at-${current.version}`;
    current.expiresAt = opts.now() + lifetimeMs;
  };
  const tokenBody = () => ({
    accessToken: current.accessToken,
    tokenType: 'bearer',
    tokenVersion: current.version,
    expiresAt: new Date(current.expiresAt).toISOString(),
    expiresIn: Math.max(0, Math.floor((current.expiresAt - opts.now()) / 1000)),
    scope: 'api',
  });
  const json = (res: ServerResponse, status: number, body: unknown, type = 'application/json') => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const tokenPath = `/v1/credentials/${credentialId}/token`;

  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const header = (name: string) => {
        const v = req.headers[name];
        return Array.isArray(v) ? v[0] : v;
      };
      requests.push({
        method: req.method ?? 'GET',
        path: url.pathname + url.search,
        authorization: header('authorization'),
        lastEventId: header('last-event-id'),
        body,
      });
      if (override?.(req, res)) return;
      if (req.method === 'GET' && url.pathname === tokenPath) {
        const minTtl = Number(url.searchParams.get('minTtl') ?? 30);
        if (current.expiresAt - opts.now() >= minTtl * 1000) return json(res, 200, tokenBody());
        setTimeout(() => {
          rotate();
          json(res, 200, tokenBody());
        }, refreshDelayMs);
        return;
      }
      if (req.method === 'POST' && url.pathname === `${tokenPath}/invalidate`) {
        const { version } = JSON.parse(body) as { version: number };
        if (version < current.version) return json(res, 200, tokenBody());
        setTimeout(() => {
          rotate();
          json(res, 200, tokenBody());
        }, refreshDelayMs);
        return;
      }
      if (req.method === 'GET' && url.pathname === '/v1/events/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
        res.flushHeaders();
        streams.push(res);
        res.on('close', () => streams.splice(streams.indexOf(res), 1));
        return;
      }
      json(
        res,
        404,
        {
          type: 'urn:x',
          title: 'Not found',
          status: 404,
          code: 'CREDENTIAL_NOT_FOUND',
          detail: 'no such credential',
        },
        'application/problem+json',
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    current,
    get refreshes() {
      return refreshes;
    },
    override(fn) {
      override = fn;
    },
    rotate,
    streams,
    write(text) {
      for (const s of streams) s.write(text);
    },
    dropStreams() {
      for (const s of [...streams]) s.destroy();
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** A 503 problem as tokenkeeper sends it when it has no valid token. */
export function tokenUnavailable(res: ServerResponse, reason: string): true {
  res.writeHead(503, { 'content-type': 'application/problem+json' });
  res.end(
    JSON.stringify({
      type: 'urn:tokenkeeper:problem:token-unavailable',
      title: 'No valid token',
      status: 503,
      code: 'TOKEN_UNAVAILABLE',
      detail: `no valid token: ${reason} failure`,
      reason,
      retryAfter: 1,
    }),
  );
  return true;
}
