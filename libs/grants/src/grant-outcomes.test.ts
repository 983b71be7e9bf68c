import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createOutboundFetch, OutboundPolicy, WORKER_HEADER, workerId } from '#common';
import { type ClassifiedFailure, classifyGrantFailure, OUTCOME_UNKNOWN } from '#core';
import { SHIPPED_OAUTH_GRANTS as grants } from '../../../test/support/oauth-grants.js';
import { GrantError, type GrantRequest } from './grant-client.js';
import { OAuthGrantClient } from './oauth-grant-client.js';
import { VaultGrantClient } from './vault-grant-client.js';

/**
 * How grant failures are classified by whether the request may have reached the provider, against
 * real HTTP servers on 127.0.0.1 (a token endpoint and a Vault stand-in whose behaviour each test
 * sets).
 */

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const TOKEN_BODY = JSON.stringify({
  access_token: 'at-new',
  token_type: 'Bearer',
  expires_in: 300,
  refresh_token: 'rt-2',
});

function busyWait(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // spin
  }
}

function listen(server: Server | TcpServer): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

async function failureOf(p: Promise<unknown>): Promise<ClassifiedFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GrantError);
  return classifyGrantFailure((err as GrantError).failure);
}

describe('grant outcomes', () => {
  let server: Server;
  let base = '';
  let handler: Handler = (_req, res) => res.end();
  const received: IncomingMessage[] = [];
  // A raw TCP endpoint that holds every connection without reading or answering.
  let silent: TcpServer;
  let silentBase = '';
  const held = new Set<Socket>();
  // A port nothing listens on.
  let refusedBase = '';

  const oauth = new OAuthGrantClient({ grants });
  const vault = new VaultGrantClient();

  const refresh = (endpoint: string, over: Partial<GrantRequest> = {}): GrantRequest => ({
    kind: 'oauth2.refresh_token',
    grant: { tokenEndpoint: `${endpoint}/token`, clientId: 'svc', clientAuth: 'none' },
    secrets: { refreshToken: 'rt-1' },
    timeoutMs: 2_000,
    ...over,
  });
  const renew = (address: string, over: Partial<GrantRequest> = {}): GrantRequest => ({
    kind: 'vault.jwt_login',
    grant: {
      clientAuth: 'none',
      vault: { address, mount: 'jwt', role: 'backend', jwt: { file: '/nonexistent/jwt' } },
    },
    secrets: {
      vaultSession: { clientToken: 'hvs.1', loginAt: Date.now(), renewable: true, leaseSeconds: 60 },
    },
    timeoutMs: 2_000,
    ...over,
  });

  beforeAll(async () => {
    server = createServer((req, res) => {
      received.push(req);
      handler(req, res);
    });
    base = `http://127.0.0.1:${await listen(server)}`;
    silent = createTcpServer((socket) => {
      held.add(socket);
      socket.on('error', () => undefined);
    });
    silentBase = `http://127.0.0.1:${await listen(silent)}`;
    const closed = createTcpServer();
    refusedBase = `http://127.0.0.1:${await listen(closed)}`;
    await new Promise((r) => closed.close(r));
  });
  afterEach(() => {
    received.length = 0;
    for (const socket of held) socket.destroy();
    held.clear();
    delete process.env.TK_OUTBOUND_WORKER_HEADER;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await new Promise((r) => silent.close(r));
  });

  describe('OAuth token endpoint', () => {
    it('refused connection: NETWORK_ERROR, not sent', async () => {
      expect(await failureOf(oauth.execute(refresh(refusedBase)))).toMatchObject({
        class: 'transient',
        code: 'NETWORK_ERROR',
        outcome: 'not_sent',
      });
    });

    it('a name that does not resolve: NETWORK_ERROR, not sent', async () => {
      expect(await failureOf(oauth.execute(refresh('http://tokenkeeper-grant-test.invalid')))).toMatchObject({
        class: 'transient',
        code: 'NETWORK_ERROR',
        outcome: 'not_sent',
      });
    });

    it('no connection within the soft timeout: TIMEOUT, not sent', async () => {
      const hanging = createOutboundFetch(
        new OutboundPolicy(
          { allowHttpHosts: ['*'], allowPrivate: true, allowLoopback: true, allowCidrs: [] },
          () => new Promise<string[]>(() => undefined),
        ),
        { timeoutMs: 30_000, maxResponseBytes: 64 * 1024 },
      );
      const client = new OAuthGrantClient({ fetch: hanging, grants });
      const started = Date.now();
      const failure = await failureOf(
        client.execute(refresh('http://idp.test', { timeoutMs: 200, deadlineMs: 5_000 })),
      );
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(failure).toMatchObject({ class: 'transient', code: 'TIMEOUT', outcome: 'not_sent' });
    });

    it('connected but never answered: waits past the soft timeout to the deadline, then OUTCOME_UNKNOWN', async () => {
      const started = Date.now();
      const failure = await failureOf(
        oauth.execute(refresh(silentBase, { timeoutMs: 150, deadlineMs: 800 })),
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(790);
      expect(failure).toMatchObject({ class: 'transient', code: OUTCOME_UNKNOWN, outcome: 'unknown' });
      expect(failure.message).toMatch(/^no answer within \d+ ms after the request was sent$/);
    });

    it('an answer after the soft timeout but before the deadline is a success', async () => {
      handler = (_req, res) => {
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(TOKEN_BODY), 500);
      };
      const before = Date.now();
      const result = await oauth.execute(refresh(base, { timeoutMs: 150, deadlineMs: 3_000 }));
      expect(result).toMatchObject({ accessToken: 'at-new', refreshToken: 'rt-2', expiresInSeconds: 300 });
      expect(result.sentAt).toBeGreaterThanOrEqual(before);
      expect(result.receivedAt - result.sentAt).toBeGreaterThanOrEqual(490);
    });

    it('without a deadline, the soft timeout stays the limit (as before)', async () => {
      const started = Date.now();
      const failure = await failureOf(oauth.execute(refresh(silentBase, { timeoutMs: 300 })));
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(failure.code).toBe(OUTCOME_UNKNOWN);
    });

    it('connection reset after the provider received the request: OUTCOME_UNKNOWN', async () => {
      handler = (req) => {
        req.socket.resetAndDestroy();
      };
      expect(await failureOf(oauth.execute(refresh(base)))).toMatchObject({
        class: 'transient',
        code: OUTCOME_UNKNOWN,
        outcome: 'unknown',
      });
    });

    it.each([502, 504])('gateway %i: OUTCOME_UNKNOWN', async (status) => {
      handler = (_req, res) =>
        res.writeHead(status, { 'content-type': 'text/html' }).end('<h1>Bad gateway</h1>');
      expect(await failureOf(oauth.execute(refresh(base)))).toMatchObject({
        class: 'transient',
        code: OUTCOME_UNKNOWN,
        outcome: 'unknown',
        message: `gateway answered ${status}`,
        status,
      });
    });

    it('unparseable 200: OUTCOME_UNKNOWN', async () => {
      handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"access_tok');
      expect(await failureOf(oauth.execute(refresh(base)))).toMatchObject({
        class: 'transient',
        code: OUTCOME_UNKNOWN,
        outcome: 'unknown',
        status: 200,
      });
    });

    it('503 with an OAuth error body: PROVIDER_UNAVAILABLE, the provider answered (no outcome)', async () => {
      handler = (_req, res) =>
        res
          .writeHead(503, { 'content-type': 'application/json', 'retry-after': '7' })
          .end(JSON.stringify({ error: 'temporarily_unavailable', error_description: 'maintenance' }));
      const failure = await failureOf(oauth.execute(refresh(base)));
      expect(failure).toMatchObject({
        class: 'transient',
        code: 'PROVIDER_UNAVAILABLE',
        status: 503,
        retryAfterMs: 7_000,
      });
      expect(failure).not.toHaveProperty('outcome');
    });

    it('an answer that arrived while the event loop stalled past the deadline wins', async () => {
      const deadlineMs = 400;
      let stalledMs = 0;
      handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(TOKEN_BODY);
        // The answer is in the client's socket; now the whole process stalls past the deadline.
        const started = Date.now();
        busyWait(deadlineMs + 1_100);
        stalledMs = Date.now() - started;
      };
      const result = await oauth.execute(refresh(base, { timeoutMs: deadlineMs, deadlineMs }));
      expect(stalledMs).toBeGreaterThan(deadlineMs + 1_000);
      expect(result.accessToken).toBe('at-new');
      expect(result.refreshToken).toBe('rt-2');
    });

    it('names the worker on the request when TK_OUTBOUND_WORKER_HEADER=1, not otherwise', async () => {
      handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(TOKEN_BODY);
      await oauth.execute(refresh(base));
      expect(received[0]?.headers[WORKER_HEADER]).toBeUndefined();
      process.env.TK_OUTBOUND_WORKER_HEADER = '1';
      await oauth.execute(refresh(base));
      expect(received[1]?.headers[WORKER_HEADER]).toBe(workerId());
    });
  });

  describe('Vault', () => {
    it('refused connection: NETWORK_ERROR, not sent', async () => {
      expect(await failureOf(vault.execute(renew(refusedBase)))).toMatchObject({
        code: 'NETWORK_ERROR',
        outcome: 'not_sent',
      });
    });

    it('connected but never answered: OUTCOME_UNKNOWN at the deadline', async () => {
      const started = Date.now();
      const failure = await failureOf(vault.execute(renew(silentBase, { timeoutMs: 150, deadlineMs: 700 })));
      expect(Date.now() - started).toBeGreaterThanOrEqual(690);
      expect(failure).toMatchObject({ code: OUTCOME_UNKNOWN, outcome: 'unknown' });
    });

    it('gateway 502 without a Vault error list: OUTCOME_UNKNOWN; Vault 503 with its errors: PROVIDER_UNAVAILABLE', async () => {
      handler = (_req, res) => res.writeHead(502).end('bad gateway');
      expect(await failureOf(vault.execute(renew(base)))).toMatchObject({
        code: OUTCOME_UNKNOWN,
        status: 502,
      });
      handler = (_req, res) =>
        res
          .writeHead(503, { 'content-type': 'application/json' })
          .end(JSON.stringify({ errors: ['Vault is sealed'] }));
      const sealed = await failureOf(vault.execute(renew(base)));
      expect(sealed).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', status: 503 });
      expect(sealed).not.toHaveProperty('outcome');
    });

    it('unparseable 200: OUTCOME_UNKNOWN', async () => {
      handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"auth":');
      expect(await failureOf(vault.execute(renew(base)))).toMatchObject({
        code: OUTCOME_UNKNOWN,
        status: 200,
      });
    });

    it('a renewal dates its result from when it was sent, and names the worker when enabled', async () => {
      process.env.TK_OUTBOUND_WORKER_HEADER = '1';
      handler = (_req, res) =>
        setTimeout(
          () =>
            res
              .writeHead(200, { 'content-type': 'application/json' })
              .end(JSON.stringify({ auth: { client_token: 'hvs.1', lease_duration: 60, renewable: true } })),
          200,
        );
      const result = await vault.execute(renew(base, { timeoutMs: 100, deadlineMs: 2_000 }));
      expect(result.accessToken).toBe('hvs.1');
      expect(result.receivedAt - result.sentAt).toBeGreaterThanOrEqual(190);
      expect(received[0]?.headers[WORKER_HEADER]).toBe(workerId());
    });
  });
});
