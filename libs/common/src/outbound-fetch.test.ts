import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createOutboundFetch,
  createUnpolicedOutboundFetch,
  OutboundAbortError,
  OutboundRequestError,
  type OutboundRequestInit,
  requestSent,
} from './outbound-fetch.js';
import { OutboundPolicy } from './outbound-policy.js';
import { WORKER_HEADER, workerId, workerIdentityHeaders } from './worker-id.js';

const limits = { timeoutMs: 5_000, maxResponseBytes: 64 * 1024 };
type OutboundFetch = (url: string, init?: OutboundRequestInit) => Promise<Response>;
const outbound: OutboundFetch = createUnpolicedOutboundFetch(limits);

/** Blocks the event loop, as a CPU-starved or paused process does. */
function busyWait(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // spin
  }
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

function listen(server: Server | TcpServer): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

function close(server: Server | TcpServer): Promise<void> {
  if ('closeAllConnections' in server) server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A raw TCP server whose `close` also drops the connections it holds. */
function tcpServer(onSocket: (socket: Socket) => void): TcpServer {
  const held = new Set<Socket>();
  const server = createTcpServer((socket) => {
    held.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => held.delete(socket));
    onSocket(socket);
  });
  const closeServer = server.close.bind(server);
  server.close = (callback) => {
    for (const socket of held) socket.destroy();
    return closeServer(callback);
  };
  return server;
}

/** A port nothing listens on (bound once, then released). */
async function closedPort(): Promise<number> {
  const server = tcpServer(() => undefined);
  const port = await listen(server);
  await close(server);
  return port;
}

describe('outbound fetch: was the request sent?', () => {
  let http: Server;
  let httpPort = 0;
  const sockets = new Set<Socket>();
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('ok');

  beforeAll(async () => {
    http = createServer((req, res) => handler(req, res));
    http.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    httpPort = await listen(http);
  });
  afterAll(() => close(http));
  afterEach(() => {
    handler = (_req, res) => res.end('ok');
  });

  it('a refused connection was not sent', async () => {
    const err = await failure(outbound(`http://127.0.0.1:${await closedPort()}/token`, { method: 'POST' }));
    expect(err).toBeInstanceOf(OutboundRequestError);
    expect(requestSent(err)).toBe(false);
    expect((err.cause as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('a name that does not resolve was not sent', async () => {
    const err = await failure(outbound('http://tokenkeeper-test.invalid/token', { method: 'POST' }));
    expect(err).toBeInstanceOf(TypeError);
    expect(requestSent(err)).toBe(false);
  });

  it('a URL the policy refuses was not sent', async () => {
    const strict = createOutboundFetch(
      new OutboundPolicy({ allowHttpHosts: [], allowPrivate: false, allowLoopback: false, allowCidrs: [] }),
      limits,
    );
    const err = await failure(strict(`http://127.0.0.1:${httpPort}/token`));
    expect(requestSent(err)).toBe(false);
    expect((err.cause as { code?: string }).code).toBe('OUTBOUND_URL_REFUSED');
  });

  it('a TLS handshake that fails was not sent', async () => {
    // A plain HTTP server answers the ClientHello with an HTTP error: the handshake fails.
    const err = await failure(outbound(`https://127.0.0.1:${httpPort}/token`, { method: 'POST', body: 'a' }));
    expect(err).toBeInstanceOf(OutboundRequestError);
    expect(requestSent(err)).toBe(false);
  });

  it('a connection not up within the connect timeout was not sent', async () => {
    // A resolver that never answers holds the call before any connection exists.
    const hanging: OutboundFetch = createOutboundFetch(
      new OutboundPolicy(
        { allowHttpHosts: ['*'], allowPrivate: true, allowLoopback: true, allowCidrs: [] },
        () => new Promise<string[]>(() => undefined),
      ),
      limits,
    );
    const started = Date.now();
    const init = { connectTimeoutMs: 150, deadlineMs: 3_000 };
    const err = await failure(hanging('http://slow-dns.test/token', init));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(err).toBeInstanceOf(OutboundAbortError);
    expect(err.name).toBe('TimeoutError');
    expect(requestSent(err)).toBe(false);
  });

  it('a server that accepts the connection and never answers: sent, waited for until the deadline', async () => {
    const silent = tcpServer(() => undefined);
    const port = await listen(silent);
    try {
      const started = Date.now();
      const init = { method: 'POST', body: 'x=1', connectTimeoutMs: 100, deadlineMs: 600 };
      const err = await failure(outbound(`http://127.0.0.1:${port}/token`, init));
      expect(Date.now() - started).toBeGreaterThanOrEqual(590);
      expect(err.name).toBe('TimeoutError');
      expect(err.message).toMatch(/after the request was sent/);
      expect(requestSent(err)).toBe(true);
    } finally {
      await close(silent);
    }
  });

  it('an answer after the connect timeout but before the deadline is returned', async () => {
    handler = (_req, res) => {
      setTimeout(() => res.end('late but here'), 400);
    };
    const res = await outbound(`http://127.0.0.1:${httpPort}/token`, {
      connectTimeoutMs: 100,
      deadlineMs: 3_000,
    });
    expect(await res.text()).toBe('late but here');
  });

  it('a connection reset after the server read the request was sent', async () => {
    const resetting = tcpServer((socket) => {
      socket.once('data', () => socket.resetAndDestroy());
    });
    const port = await listen(resetting);
    try {
      const err = await failure(outbound(`http://127.0.0.1:${port}/token`, { method: 'POST', body: 'a' }));
      expect(err).toBeInstanceOf(OutboundRequestError);
      expect(requestSent(err)).toBe(true);
      expect((err.cause as { code?: string }).code).toBe('ECONNRESET');
    } finally {
      await close(resetting);
    }
  });

  it('a reused keep-alive connection counts as sent when it fails', async () => {
    let calls = 0;
    handler = (req, res) => {
      calls += 1;
      if (calls === 1) return res.end('first');
      req.socket.resetAndDestroy();
    };
    const first = await outbound(`http://127.0.0.1:${httpPort}/a`);
    expect(await first.text()).toBe('first');
    const err = await failure(outbound(`http://127.0.0.1:${httpPort}/b`));
    expect(requestSent(err)).toBe(true);
  });

  it('an answer that arrived while the event loop stalled past the deadline wins over the timer', async () => {
    const deadlineMs = 300;
    let stalledMs = 0;
    handler = (_req, res) => {
      res.end('{"access_token":"at"}');
      // The answer is in the client's socket; the process stalls past the client's deadline.
      const started = Date.now();
      busyWait(deadlineMs + 500);
      stalledMs = Date.now() - started;
    };
    const res = await outbound(`http://127.0.0.1:${httpPort}/token`, {
      method: 'POST',
      connectTimeoutMs: deadlineMs,
      deadlineMs,
      signal: AbortSignal.timeout(deadlineMs),
    });
    expect(stalledMs).toBeGreaterThan(deadlineMs);
    expect(await res.json()).toEqual({ access_token: 'at' });
  });

  it('a caller abort after the request was sent reports it sent', async () => {
    handler = () => undefined;
    const err = await failure(
      outbound(`http://127.0.0.1:${httpPort}/token`, { signal: AbortSignal.timeout(200), deadlineMs: 5_000 }),
    );
    expect(err.name).toBe('TimeoutError');
    expect(requestSent(err)).toBe(true);
    for (const s of sockets) s.destroy();
  });
});

describe('worker identity', () => {
  it('is host:pid, and goes on outbound grant requests only when enabled', () => {
    expect(workerId()).toBe(`${workerId().split(':')[0]}:${process.pid}`);
    expect(workerIdentityHeaders({})).toEqual({});
    expect(workerIdentityHeaders({ TK_OUTBOUND_WORKER_HEADER: '0' })).toEqual({});
    expect(workerIdentityHeaders({ TK_OUTBOUND_WORKER_HEADER: '1' })).toEqual({
      [WORKER_HEADER]: workerId(),
    });
  });
});
