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
 *
 * Faults after forwarding (in `pass` mode): the request reaches the upstream, which processes it
 * (a provider rotates the refresh token), and then the answer is
 * - `held`: kept for `holdMs` before it is written (past the client's timeout, the client may be gone);
 * - `reset-after-forward`: dropped, and the client's connection destroyed;
 * - `bad-gateway-after-forward`: replaced by a 502 from the "gateway".
 * They are drawn per request with the shares `heldAfterForward`, `resetAfterForward` and
 * `badGatewayAfterForward` (random failures before forwarding, `failureRate`, come first), or forced
 * for the next requests with `injectNext`. `seed` makes every random draw of the proxy repeatable.
 *
 * Evidence: every request forwarded with a `refresh_token` in its form body is a presentation of
 * that token, recorded under a hash of it (tokens are never kept or printed): when, by which worker
 * (`x-tokenkeeper-worker` header), the upstream's status, the hash of the refresh token it issued,
 * and whether its answer reached the client in full (handed to the client's connection before it
 * closed). A client that closes in the same instant as the write can still drop an answer recorded
 * as delivered; a process SIGKILLed after it got the answer and before using it, too.
 */

import { createHash } from 'node:crypto';
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

/** A fault applied once the upstream has processed the request. */
export type AfterForwardFault = 'held' | 'reset-after-forward' | 'bad-gateway-after-forward';
/** A fault `injectNext` can force on the next `pass` requests. */
export type InjectedFault = AfterForwardFault | 'failure' | 'hang';

/** Header naming the process that sent a grant request (`host:pid`), set by tokenkeeper in tests. */
export const WORKER_HEADER = 'x-tokenkeeper-worker';

/** One presentation of a refresh token to the upstream, as the proxy saw it. */
export interface Presentation {
  /** Epoch ms the request reached the proxy. */
  at: number;
  /** `x-tokenkeeper-worker` of the request (bounded), if any. */
  worker?: string;
  /** Status the upstream answered; absent when the upstream call failed (no answer). */
  providerStatus?: number;
  /** Epoch ms the upstream's answer was complete. */
  answeredAt?: number;
  /** Hash (`tokenHash`) of the refresh token in the upstream's answer, if it issued one. */
  issued?: string;
  /** Fault applied after forwarding, if any. */
  fault?: AfterForwardFault;
  /** The upstream's answer was written to the client in full before its connection closed. */
  delivered: boolean;
  /** Epoch ms the answer was handed over (delivered) or found undeliverable. */
  settledAt?: number;
}

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
  /** Share (0..1) of forwarded requests whose answer is held `holdMs` before it is written. */
  heldAfterForward?: number;
  /** How long a held answer is kept, in ms (default 3000). */
  holdMs?: number;
  /** Share (0..1) of forwarded requests whose answer is dropped and the client connection reset. */
  resetAfterForward?: number;
  /** Share (0..1) of forwarded requests answered 502 by the proxy once the upstream answered. */
  badGatewayAfterForward?: number;
  /** Seed of the proxy's random draws (shares, jitter); setting it restarts the sequence. */
  seed?: number;
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
  /** Forwarded requests given an after-forward fault (held, reset, bad gateway). */
  afterForwardFaults: number;
}

export interface FaultProxyRequest {
  method: string;
  url: string;
  /** Mode that handled it, or `random-failure`. */
  outcome: FaultMode | 'random-failure' | 'upstream-error' | 'client-gone' | AfterForwardFault;
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
  /** Clears the counters and the request log (the presentation record is kept: `clearPresentations`). */
  resetStats(): void;
  /** Forces `fault` on the next `count` requests handled in `pass` mode (before any random draw). */
  injectNext(fault: InjectedFault, count?: number): void;
  /** Every presentation of every refresh token, by `tokenHash`, oldest first. */
  presentations(): ReadonlyMap<string, readonly Presentation[]>;
  /** The presentations of one refresh token (given in clear, looked up by its hash). */
  presentationsOf(refreshToken: string): readonly Presentation[];
  /** Hashes of refresh tokens the upstream answered more than once. */
  tokensPresentedTwice(): string[];
  clearPresentations(): void;
  /** Closes the listener and every open connection (hung requests included). */
  stop(): Promise<void>;
}

/** A stable short hash of a token, the key of the presentation record (never the token itself). */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 24);
}

/** A small seeded PRNG (mulberry32), so a soak's fault pattern can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const MAX_WORKER_HEADER = 200;
const MAX_REQUEST_BODY = 64 * 1024;

function refreshTokenIn(body: Buffer, contentType: string | undefined): string | undefined {
  if (!contentType?.includes('application/x-www-form-urlencoded') || body.length > MAX_REQUEST_BODY) return;
  return new URLSearchParams(body.toString('utf8')).get('refresh_token') ?? undefined;
}

function issuedRefreshToken(body: Buffer): string | undefined {
  try {
    const json = JSON.parse(body.toString('utf8')) as { refresh_token?: unknown };
    return typeof json.refresh_token === 'string' ? json.refresh_token : undefined;
  } catch {
    return undefined;
  }
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
  private readonly counters: FaultProxyStats = {
    received: 0,
    forwarded: 0,
    failed: 0,
    upstreamErrors: 0,
    afterForwardFaults: 0,
  };
  private log: FaultProxyRequest[] = [];
  private record_ = new Map<string, Presentation[]>();
  private injected: InjectedFault[] = [];
  private random: () => number = Math.random;
  private readonly sockets = new Set<Socket>();
  private readonly hung = new Set<ServerResponse>();
  private readonly holds = new Set<NodeJS.Timeout>();
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
    Object.assign(this.counters, {
      received: 0,
      forwarded: 0,
      failed: 0,
      upstreamErrors: 0,
      afterForwardFaults: 0,
    });
    this.log = [];
  }

  injectNext(fault: InjectedFault, count = 1): void {
    for (let i = 0; i < count; i++) this.injected.push(fault);
  }

  presentations(): ReadonlyMap<string, readonly Presentation[]> {
    return new Map([...this.record_].map(([hash, list]) => [hash, list.map((p) => ({ ...p }))]));
  }

  presentationsOf(refreshToken: string): readonly Presentation[] {
    return (this.record_.get(tokenHash(refreshToken)) ?? []).map((p) => ({ ...p }));
  }

  tokensPresentedTwice(): string[] {
    return [...this.record_]
      .filter(([, list]) => list.filter((p) => p.providerStatus !== undefined).length > 1)
      .map(([hash]) => hash);
  }

  clearPresentations(): void {
    this.record_ = new Map();
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
    if (settings.seed !== undefined) this.random = seededRandom(settings.seed);
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
    for (const timer of this.holds) clearTimeout(timer);
    this.holds.clear();
    await this.transition.catch(() => undefined);
    await this.close();
    this.agent.destroy();
  }

  private record(req: IncomingMessage, outcome: FaultProxyRequest['outcome'], status?: number): void {
    this.log.push({ method: req.method ?? 'GET', url: req.url ?? '/', outcome, status });
  }

  /** The fault of one `pass` request: a forced one first, else one random draw over the shares. */
  private draw(s: FaultSettings): InjectedFault | undefined {
    const forced = this.injected.shift();
    if (forced) return forced;
    const shares: [InjectedFault, number | undefined][] = [
      ['hang', s.hangRate],
      ['failure', s.failureRate],
      ['held', s.heldAfterForward],
      ['reset-after-forward', s.resetAfterForward],
      ['bad-gateway-after-forward', s.badGatewayAfterForward],
    ];
    let roll = this.random();
    for (const [fault, share] of shares) {
      if (!share) continue;
      if (roll < share) return fault;
      roll -= share;
    }
    return undefined;
  }

  private hang(req: IncomingMessage, res: ServerResponse): void {
    this.counters.failed += 1;
    this.record(req, 'hang');
    this.hung.add(res);
    res.once('close', () => this.hung.delete(res));
    req.resume();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // One request per connection: a client never holds a pooled socket to the proxy, so
    // `refuse` is a deterministic ECONNREFUSED rather than a reset of a kept-alive socket.
    res.shouldKeepAlive = false;
    this.counters.received += 1;
    const latency = (this.current.latencyMs ?? 0) + this.random() * (this.current.latencyJitterMs ?? 0);
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
        this.hang(req, res);
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
      case 'pass': {
        const fault = this.draw(s);
        if (fault === 'hang') {
          this.hang(req, res);
          return;
        }
        if (fault === 'failure') {
          const status = s.failureStatus ?? 500;
          this.counters.failed += 1;
          this.record(req, 'random-failure', status);
          this.reply(req, res, status, undefined);
          return;
        }
        await this.forward(req, res, fault);
        return;
      }
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

  /**
   * Forwards the whole request, reads the whole answer, then hands it to the client (or applies
   * `fault`). Once sent upstream, a request is never called back: a client that leaves only loses
   * the answer, as with a real network.
   */
  private async forward(req: IncomingMessage, res: ServerResponse, fault: AfterForwardFault | undefined) {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) chunks.push(chunk as Buffer);
    } catch {
      this.record(req, 'client-gone');
      return;
    }
    const body = Buffer.concat(chunks);
    const presented = refreshTokenIn(body, req.headers['content-type']);
    const worker = req.headers[WORKER_HEADER];
    const presentation: Presentation | undefined =
      presented === undefined
        ? undefined
        : {
            at: Date.now(),
            ...(typeof worker === 'string' ? { worker: worker.slice(0, MAX_WORKER_HEADER) } : {}),
            ...(fault ? { fault } : {}),
            delivered: false,
          };
    if (presented !== undefined && presentation) {
      const hash = tokenHash(presented);
      const list = this.record_.get(hash) ?? [];
      list.push(presentation);
      this.record_.set(hash, list);
    }
    this.counters.forwarded += 1;
    const settle = (delivered: boolean) => {
      if (!presentation || presentation.settledAt !== undefined) return;
      presentation.delivered = delivered;
      presentation.settledAt = Date.now();
    };
    res.once('close', () => settle(res.writableFinished));

    let answer: { status: number; message: string | undefined; raw: string[]; body: Buffer };
    try {
      answer = await this.callUpstream(req, body);
    } catch (err) {
      this.counters.upstreamErrors += 1;
      this.record(req, 'upstream-error', 502);
      const text = JSON.stringify({
        error: 'fault_proxy_upstream',
        error_description: (err as Error).message,
      });
      if (!res.destroyed) {
        res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      }
      return;
    }
    if (presentation) {
      presentation.providerStatus = answer.status;
      presentation.answeredAt = Date.now();
      const issued = issuedRefreshToken(answer.body);
      if (issued !== undefined) presentation.issued = tokenHash(issued);
    }
    if (fault) this.counters.afterForwardFaults += 1;
    this.record(req, fault ?? 'pass', answer.status);
    const deliver = () => {
      if (res.destroyed) {
        settle(false);
        return;
      }
      res.writeHead(answer.status, answer.message, answer.raw);
      res.end(answer.body);
    };
    switch (fault) {
      case 'held': {
        const timer = setTimeout(() => {
          this.holds.delete(timer);
          deliver();
        }, this.current.holdMs ?? 3_000);
        this.holds.add(timer);
        return;
      }
      case 'reset-after-forward':
        settle(false);
        req.socket.destroy();
        return;
      case 'bad-gateway-after-forward': {
        settle(false);
        const text = '<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>';
        if (res.destroyed) return;
        res.writeHead(502, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      default:
        deliver();
    }
  }

  private callUpstream(
    req: IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; message: string | undefined; raw: string[]; body: Buffer }> {
    const base = this.targetUrl.pathname.replace(/\/$/, '');
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    }
    headers.host = this.targetUrl.host;
    return new Promise((resolve, reject) => {
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
          const raw: string[] = [];
          for (let i = 0; i < up.rawHeaders.length; i += 2) {
            const name = up.rawHeaders[i]!;
            if (!HOP_BY_HOP.has(name.toLowerCase())) raw.push(name, up.rawHeaders[i + 1]!);
          }
          const parts: Buffer[] = [];
          up.on('data', (c: Buffer) => parts.push(c));
          up.once('error', reject);
          up.once('end', () =>
            resolve({
              status: up.statusCode ?? 502,
              message: up.statusMessage,
              raw,
              body: Buffer.concat(parts),
            }),
          );
        },
      );
      upstream.once('error', reject);
      upstream.end(body);
    });
  }
}

/** Starts a fault proxy on a free 127.0.0.1 port in front of `target` (mode `pass`). */
export async function startFaultProxy(target: string, initial?: Partial<FaultSettings>): Promise<FaultProxy> {
  const proxy = new FaultProxyImpl(target);
  await proxy.listen(0);
  if (initial) await proxy.set(initial);
  return proxy;
}
