/**
 * A tiny HTTP reverse proxy on 127.0.0.1 that injects faults in front of a real upstream
 * (typically the in-process OAuth server), for testing retries, backoff and error
 * classification against real sockets.
 *
 * Modes:
 * - `pass`: forward method, path, query, headers (Host rewritten to the target) and body;
 *   return the upstream status, headers and body untouched. `failureRate` turns a share of
 *   requests into `failureStatus` (default 500) answers, `latencyMs` delays every request.
 * - `refuse`: the listener is closed and open connections are destroyed, so clients get
 *   a real `ECONNREFUSED`; switching to another mode listens again on the same port.
 * - `status`: answer `status` (default 503) with optional `Retry-After` and `body`.
 * - `hang`: accept the request and never answer (until the mode changes or `stop()`).
 * - `garbage`: answer 200 `application/json` with a body that is not JSON.
 * - `reset`: destroy the connection without any response (client sees "other side closed").
 */
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';

export type FaultMode = 'pass' | 'refuse' | 'status' | 'hang' | 'garbage' | 'reset';

export interface FaultSettings {
  mode: FaultMode;
  /** Status for `mode: 'status'` (default 503). */
  status?: number;
  /** `Retry-After` header value for `mode: 'status'` and random failures (seconds or HTTP date). */
  retryAfter?: number | string;
  /**
   * Body for `mode: 'status'` (sent as text/plain). Default: JSON
   * `{"error":"temporarily_unavailable",...}`; openid-client reports 4xx with such a body as
   * `ResponseBodyError`, and any 5xx as `ClientError` `OAUTH_RESPONSE_IS_NOT_CONFORM`.
   */
  body?: string;
  /** Share (0..1) of `pass` requests answered with `failureStatus` instead of being forwarded. */
  failureRate?: number;
  /** Status of random failures (default 500). */
  failureStatus?: number;
  /** Delay before each request is handled, in ms. */
  latencyMs?: number;
  /** Extra random delay, uniform in [0, latencyJitterMs), added to `latencyMs`. */
  latencyJitterMs?: number;
  /** Share (0..1) of `pass` requests that hang (never answered): the client's timeout fires. */
  hangRate?: number;
}

export interface FaultProxyStats {
  /** Requests that reached the proxy (not counting refused connections). */
  received: number;
  /** Requests forwarded upstream. */
  forwarded: number;
  /** Requests answered with an injected fault (status, random failure, garbage, reset, hang). */
  failed: number;
  /** Forwarded requests whose upstream call failed (answered 502). */
  upstreamErrors: number;
}

export interface FaultProxyRequest {
  method: string;
  url: string;
  /** Mode that handled it, or `random-failure`. */
  outcome: FaultMode | 'random-failure' | 'upstream-error' | 'client-gone';
  status?: number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>` (no trailing slash); stays valid across `refuse`. */
  readonly url: string;
  readonly port: number;
  readonly target: string;
  /** Current settings (a copy; change them with `set`). */
  readonly settings: Readonly<FaultSettings>;
  /** Counters since start or the last `resetStats()`. */
  readonly stats: Readonly<FaultProxyStats>;
  /** Log of handled requests since start or the last `resetStats()`. */
  readonly requests: readonly FaultProxyRequest[];
  /**
   * Merges `settings` into the current ones. Await it when switching to or from `refuse`:
   * it resolves once the listener is really closed or listening again.
   * Passing `{ mode }` alone keeps the other settings.
   */
  set(settings: Partial<FaultSettings>): Promise<void>;
  resetStats(): void;
  /** Closes the listener and every open connection (hung requests included). */
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

class FaultProxyImpl implements FaultProxy {
  private current: FaultSettings = { mode: 'pass' };
  private readonly counters: FaultProxyStats = { received: 0, forwarded: 0, failed: 0, upstreamErrors: 0 };
  private log: FaultProxyRequest[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly hung = new Set<ServerResponse>();
  private readonly server: Server;
  private readonly targetUrl: URL;
  private readonly agent = new Agent({ keepAlive: false });
  private listening = false;
  private stopped = false;
  private transition: Promise<void> = Promise.resolve();
  port = 0;

  constructor(readonly target: string) {
    this.targetUrl = new URL(target);
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get settings(): Readonly<FaultSettings> {
    return { ...this.current };
  }

  get stats(): Readonly<FaultProxyStats> {
    return { ...this.counters };
  }

  get requests(): readonly FaultProxyRequest[] {
    return [...this.log];
  }

  resetStats(): void {
    Object.assign(this.counters, { received: 0, forwarded: 0, failed: 0, upstreamErrors: 0 });
    this.log = [];
  }

  listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', onError);
        const address = this.server.address();
        if (typeof address === 'object' && address) this.port = address.port;
        this.listening = true;
        resolve();
      });
    });
  }

  private close(): Promise<void> {
    if (!this.listening) return Promise.resolve();
    this.listening = false;
    return new Promise((resolve) => {
      // Resolve one macrotask later so in-process clients see their sockets closed.
      this.server.close(() => setImmediate(resolve));
      this.releaseHung();
      for (const socket of this.sockets) socket.destroy();
    });
  }

  private releaseHung(): void {
    for (const res of this.hung) res.socket?.destroy();
    this.hung.clear();
  }

  set(settings: Partial<FaultSettings>): Promise<void> {
    const next: FaultSettings = { ...this.current, ...settings };
    const wasHang = this.current.mode === 'hang';
    this.current = next;
    if (wasHang && next.mode !== 'hang') this.releaseHung();
    this.transition = this.transition.then(async () => {
      if (this.stopped) return;
      if (this.current.mode === 'refuse') await this.close();
      else if (!this.listening) await this.listen(this.port);
    });
    return this.transition;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.transition.catch(() => undefined);
    await this.close();
    this.agent.destroy();
  }

  private record(req: IncomingMessage, outcome: FaultProxyRequest['outcome'], status?: number): void {
    this.log.push({ method: req.method ?? 'GET', url: req.url ?? '/', outcome, status });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // One request per connection: a client never holds a pooled socket to the proxy, so
    // `refuse` is a deterministic ECONNREFUSED rather than a reset of a kept-alive socket.
    res.shouldKeepAlive = false;
    this.counters.received += 1;
    const latency = (this.current.latencyMs ?? 0) + Math.random() * (this.current.latencyJitterMs ?? 0);
    if (latency > 0) await new Promise((r) => setTimeout(r, latency));
    // A client that went away during the delay (killed, timed out) never reaches the upstream.
    if (req.socket.destroyed) {
      this.record(req, 'client-gone');
      return;
    }
    const s = this.current;
    switch (s.mode) {
      case 'refuse':
      case 'reset':
        this.counters.failed += 1;
        this.record(req, s.mode);
        req.socket.destroy();
        return;
      case 'hang':
        this.counters.failed += 1;
        this.record(req, 'hang');
        this.hung.add(res);
        res.once('close', () => this.hung.delete(res));
        req.resume();
        return;
      case 'garbage':
        this.counters.failed += 1;
        this.record(req, 'garbage', 200);
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('<html>\u0000 not json {{{');
        return;
      case 'status': {
        const status = s.status ?? 503;
        this.counters.failed += 1;
        this.record(req, 'status', status);
        this.reply(req, res, status, s.body);
        return;
      }
      case 'pass':
        if (s.hangRate && Math.random() < s.hangRate) {
          this.counters.failed += 1;
          this.record(req, 'hang');
          this.hung.add(res);
          res.once('close', () => this.hung.delete(res));
          req.resume();
          return;
        }
        if (s.failureRate && Math.random() < s.failureRate) {
          const status = s.failureStatus ?? 500;
          this.counters.failed += 1;
          this.record(req, 'random-failure', status);
          this.reply(req, res, status, undefined);
          return;
        }
        this.forward(req, res);
        return;
    }
  }

  private reply(req: IncomingMessage, res: ServerResponse, status: number, body: string | undefined): void {
    req.resume();
    const headers: OutgoingHttpHeaders = {};
    const text =
      body ??
      JSON.stringify({
        error: 'temporarily_unavailable',
        error_description: `fault-proxy injected ${status}`,
      });
    headers['content-type'] = body === undefined ? 'application/json' : 'text/plain; charset=utf-8';
    headers['content-length'] = Buffer.byteLength(text);
    if (this.current.retryAfter !== undefined) headers['retry-after'] = String(this.current.retryAfter);
    res.writeHead(status, headers);
    res.end(text);
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    this.counters.forwarded += 1;
    const base = this.targetUrl.pathname.replace(/\/$/, '');
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    }
    headers.host = this.targetUrl.host;
    const upstream = httpRequest(
      {
        protocol: this.targetUrl.protocol,
        hostname: this.targetUrl.hostname,
        port: this.targetUrl.port,
        method: req.method,
        path: `${base}${req.url ?? '/'}`,
        headers,
        agent: this.agent,
      },
      (up) => {
        this.record(req, 'pass', up.statusCode);
        const raw: string[] = [];
        for (let i = 0; i < up.rawHeaders.length; i += 2) {
          const name = up.rawHeaders[i]!;
          if (!HOP_BY_HOP.has(name.toLowerCase())) raw.push(name, up.rawHeaders[i + 1]!);
        }
        res.writeHead(up.statusCode ?? 502, up.statusMessage, raw);
        up.pipe(res);
        up.once('error', () => res.destroy());
      },
    );
    upstream.once('error', (err) => {
      this.counters.upstreamErrors += 1;
      this.record(req, 'upstream-error', 502);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const text = JSON.stringify({ error: 'fault_proxy_upstream', error_description: err.message });
      res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }
}

/** Starts a fault proxy on a free 127.0.0.1 port in front of `target` (mode `pass`). */
export async function startFaultProxy(target: string, initial?: Partial<FaultSettings>): Promise<FaultProxy> {
  const proxy = new FaultProxyImpl(target);
  await proxy.listen(0);
  if (initial) await proxy.set(initial);
  return proxy;
}
