import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeTokenkeeper, startFakeTokenkeeper, tokenUnavailable } from '../test/fake-tokenkeeper.js';
import { ClientClosedError, TokenkeeperApiError, TokenUnavailableError } from './errors.js';
import { createTokenProvider, type TokenProviderOptions, type TokenWarning } from './token-provider.js';

const API_KEY = 'tk_test_secret_key';
let clock = 0;
const now = () => clock;
let tk: FakeTokenkeeper;
let warnings: TokenWarning[];

beforeEach(async () => {
  clock = Date.parse('2030-01-01T00:00:00Z');
  warnings = [];
  tk = await startFakeTokenkeeper({ now, lifetimeMs: 300_000 });
});
afterEach(async () => {
  await tk.stop();
});

const provider = (extra: Partial<TokenProviderOptions> = {}) =>
  createTokenProvider({
    baseUrl: tk.url,
    apiKey: API_KEY,
    credentialId: 'cred-1',
    minTtl: 60,
    now,
    onWarning: (w) => warnings.push(w),
    ...extra,
  });
const tokenCalls = () => tk.requests.filter((r) => r.path.startsWith('/v1/credentials/cred-1/token?'));

describe('getToken', () => {
  it('serves the cached token while it has minTtl left, then asks the service with minTtl', async () => {
    const p = provider();
    const first = await p.getTokenInfo();
    expect(first).toMatchObject({
      accessToken: 'at-1',
      tokenType: 'Bearer',
      tokenVersion: 1,
      expiresIn: 300,
    });
    expect(tokenCalls()[0]).toMatchObject({
      path: '/v1/credentials/cred-1/token?minTtl=61',
      authorization: `Bearer ${API_KEY}`,
    });

    clock += 200_000; // 100 s left
    expect(await p.getToken()).toBe('at-1');
    expect(tokenCalls()).toHaveLength(1);

    clock += 50_000; // 50 s left < minTtl
    expect(await p.getToken()).toBe('at-2');
    expect(tokenCalls()).toHaveLength(2);
    expect(tk.refreshes).toBe(1);
    expect(warnings).toEqual([]);
  });

  it('shares one request among concurrent callers (single flight)', async () => {
    const p = provider();
    await p.getToken();
    clock += 250_000;
    const tokens = await Promise.all(Array.from({ length: 20 }, () => p.getToken()));
    expect(new Set(tokens)).toEqual(new Set(['at-2']));
    expect(tokenCalls()).toHaveLength(2);
    expect(tk.refreshes).toBe(1);
  });

  it('accepts a per-call minTtl', async () => {
    const p = provider();
    await p.getToken();
    clock += 100_000; // 200 s left
    expect(await p.getToken({ minTtl: 250 })).toBe('at-2');
    expect(tokenCalls().at(-1)?.path).toBe('/v1/credentials/cred-1/token?minTtl=251');
  });

  it('keeps a token whose whole life is shorter than minTtl until half of it is used', async () => {
    await tk.stop();
    tk = await startFakeTokenkeeper({ now, lifetimeMs: 20_000 });
    const p = provider({ minTtl: 60 });
    expect(await p.getToken()).toBe('at-2'); // 20 s left < 60: the service refreshed once
    clock += 5_000;
    expect(await p.getToken()).toBe('at-2');
    expect(tokenCalls()).toHaveLength(1);
    clock += 6_000; // 9 s left < half of 20 s
    expect(await p.getToken()).toBe('at-3');
    expect(tokenCalls()).toHaveLength(2);
  });

  it('falls back to the cached token with a warning while it is valid, then throws a typed error', async () => {
    const p = provider();
    await p.getToken();
    tk.override((_req, res) => tokenUnavailable(res, 'network'));
    clock += 250_000; // 50 s left
    const info = await p.getTokenInfo();
    expect(info).toMatchObject({ accessToken: 'at-1', tokenVersion: 1, expiresIn: 50 });
    expect(info.warning).toMatch(/serving the cached token \(version 1, 50 s left\)/);
    expect(warnings.map((w) => w.code)).toEqual(['SERVED_FROM_CACHE']);
    expect(warnings[0]).toMatchObject({ credentialId: 'cred-1', tokenVersion: 1, expiresIn: 50 });

    clock += 49_500; // 0.5 s left: too little to hand out
    const err = await p.getToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect(err).toMatchObject({ code: 'TOKEN_UNAVAILABLE', reason: 'network', retryAfterSeconds: 1 });
    expect((err as Error).message).toMatch(/cached token \(version 1\) expired at/);
    expect((err as Error).message).not.toContain('at-1');
    expect((err as Error).message).not.toContain(API_KEY);
  });

  it('falls back when the service is unreachable, and does not ask again on every call', async () => {
    const p = provider();
    await p.getToken();
    await tk.stop();
    clock += 250_000;
    expect(await p.getToken()).toBe('at-1');
    const calls = tk.requests.length;
    clock += 500;
    expect(await p.getToken()).toBe('at-1'); // within the quiet period: no new attempt
    expect(tk.requests.length).toBe(calls);
    expect(warnings.map((w) => w.code)).toEqual(['SERVED_FROM_CACHE', 'SERVED_FROM_CACHE']);
    expect(warnings[0]?.message).toMatch(/unreachable: ECONNREFUSED/);

    clock += 60_000;
    await expect(p.getToken()).rejects.toMatchObject({ code: 'TOKEN_UNAVAILABLE', reason: 'unreachable' });
  });

  it('throws at once without a cached token; an expired token is never returned', async () => {
    tk.override((_req, res) => {
      res.writeHead(502).end('bad gateway');
      return true;
    });
    const p = provider();
    const err = await p.getToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect(err).toMatchObject({
      reason: 'unreachable',
      message: expect.stringMatching(/answered 502 for credential cred-1/),
    });
  });

  it('honours the request timeout', async () => {
    tk.override(() => true); // never answers
    const p = provider({ requestTimeoutMs: 100 });
    await expect(p.getToken()).rejects.toMatchObject({
      reason: 'unreachable',
      message: expect.stringMatching(/no answer within 100 ms/),
    });
  });

  it('reports configuration errors from the service without falling back', async () => {
    const p = provider();
    await p.getToken();
    tk.override((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/problem+json' });
      res.end(
        JSON.stringify({
          status: 401,
          code: 'UNAUTHENTICATED',
          title: 'Unauthorized',
          detail: 'API key not recognised',
        }),
      );
      return true;
    });
    clock += 250_000;
    const err = await p.getToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenkeeperApiError);
    expect(err).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    expect((err as Error).message).not.toContain(API_KEY);

    tk.override(undefined);
    const unknown = createTokenProvider({ baseUrl: tk.url, credentialId: 'nope', now });
    await expect(unknown.getToken()).rejects.toMatchObject({ code: 'CREDENTIAL_NOT_FOUND', status: 404 });
  });

  it('rejects misuse with a TypeError', () => {
    expect(() => createTokenProvider({ baseUrl: 'localhost:1', credentialId: 'x' })).toThrow(TypeError);
    expect(() => createTokenProvider({ baseUrl: tk.url, credentialId: '' })).toThrow(TypeError);
    expect(() => provider({ minTtl: -1 })).toThrow(TypeError);
  });

  it('refuses every call after close()', async () => {
    const p = provider();
    await p.getToken();
    await p.close();
    await expect(p.getToken()).rejects.toBeInstanceOf(ClientClosedError);
  });
});

describe('invalidate and authFetch', () => {
  let upstream: Server;
  let upstreamUrl: string;
  let seen: { authorization: string | undefined; body: string; method: string }[];
  let accept: (authorization: string | undefined) => boolean;

  beforeEach(async () => {
    seen = [];
    accept = (a) => a === `Bearer ${tk.current.accessToken}`;
    upstream = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => {
        body += d.toString();
      });
      req.on('end', () => {
        seen.push({ authorization: req.headers.authorization, body, method: req.method ?? '' });
        if (accept(req.headers.authorization)) res.writeHead(200).end(`ok ${body}`);
        else res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end('no');
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/thing`;
  });
  afterEach(async () => {
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  });

  it('adds the token, and on a 401 invalidates that version and retries once with the new token', async () => {
    const p = provider();
    await p.getToken();
    tk.rotate(); // the upstream now only accepts version 2, the SDK still caches version 1
    const res = await p.authFetch(upstreamUrl, {
      method: 'POST',
      body: 'payload',
      headers: { 'x-extra': '1' },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok payload');
    expect(seen.map((s) => s.authorization)).toEqual(['Bearer at-1', 'Bearer at-2']);
    expect(seen.map((s) => s.body)).toEqual(['payload', 'payload']);
    const inv = tk.requests.filter((r) => r.path.endsWith('/invalidate'));
    expect(inv.map((r) => JSON.parse(r.body))).toEqual([{ version: 1 }]);
    expect(tk.refreshes).toBe(1); // version 1 was already replaced: the service just hands out version 2
    expect(await p.getToken()).toBe('at-2');
    expect(tokenCalls()).toHaveLength(1);
  });

  it('retries exactly once when the new token is refused too', async () => {
    accept = () => false;
    const p = provider();
    const res = await p.authFetch(upstreamUrl);
    expect(res.status).toBe(401);
    expect(seen).toHaveLength(2);
  });

  it('works with a Request object', async () => {
    const p = provider();
    await p.getToken();
    tk.rotate();
    const res = await p.authFetch(new Request(upstreamUrl, { method: 'PUT', body: 'r-body' }));
    expect(res.status).toBe(200);
    expect(seen.map((s) => [s.method, s.body])).toEqual([
      ['PUT', 'r-body'],
      ['PUT', 'r-body'],
    ]);
  });

  it('concurrent 401s for one version share a single invalidation', async () => {
    const p = provider();
    await p.getToken();
    tk.rotate();
    const results = await Promise.all(Array.from({ length: 5 }, () => p.authFetch(upstreamUrl)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(tk.requests.filter((r) => r.path.endsWith('/invalidate'))).toHaveLength(1);
  });

  it('returns the 401 with a warning when no replacement can be had', async () => {
    const p = provider();
    await p.getToken();
    tk.rotate();
    tk.override((req, res) => (req.url?.endsWith('/invalidate') ? tokenUnavailable(res, 'auth') : false));
    const res = await p.authFetch(upstreamUrl);
    expect(res.status).toBe(401);
    expect(await res.text()).toBe('no');
    expect(seen).toHaveLength(1);
    expect(warnings.map((w) => w.code)).toEqual(['INVALIDATE_FAILED']);
  });

  it('a 401 on a stream body is returned as is (the body cannot be sent twice)', async () => {
    const p = provider();
    await p.getToken();
    tk.rotate();
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('streamed'));
        c.close();
      },
    });
    const res = await p.authFetch(upstreamUrl, { method: 'POST', body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(401);
    expect(seen).toHaveLength(1);
  });
});
