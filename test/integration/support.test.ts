/**
 * Self-test of the shared test support: real redis-server, real oidc-provider, fault proxy.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { redisPing } from '../support/net.js';
import { type OAuthServer, type RefreshClientKey, startOAuthServer } from '../support/oauth-server.js';
import { type RedisServer, startRedis, uniquePrefix } from '../support/redis-server.js';
import { sleep, waitFor } from '../support/wait.js';

/** Minimal RESP client: sends one command, returns the raw reply line(s). */
async function redisCommand(port: number, ...args: string[]): Promise<string> {
  const { Socket } = await import('node:net');
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let buf = '';
    socket.setTimeout(2000, () => {
      socket.destroy();
      reject(new Error('redis command timed out'));
    });
    socket.once('error', reject);
    socket.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      const firstLine = buf.indexOf('\r\n');
      if (firstLine < 0) return;
      if (buf.startsWith('$')) {
        const len = Number(buf.slice(1, firstLine));
        if (len < 0) return finish('(nil)');
        if (buf.length >= firstLine + 2 + len + 2) finish(buf.slice(firstLine + 2, firstLine + 2 + len));
      } else {
        finish(buf.slice(0, firstLine));
      }
    });
    const finish = (value: string) => {
      socket.destroy();
      resolve(value);
    };
    const payload = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
    socket.connect(port, '127.0.0.1', () => socket.write(payload));
  });
}

function authFor(oauth: OAuthServer, key: RefreshClientKey | 'clientCredentials'): client.ClientAuth {
  const c = oauth.clients[key];
  switch (c.authMethod) {
    case 'client_secret_basic':
      return client.ClientSecretBasic(c.clientSecret);
    case 'client_secret_post':
      return client.ClientSecretPost(c.clientSecret);
    case 'none':
      return client.None();
  }
}

async function configFor(oauth: OAuthServer, key: RefreshClientKey | 'clientCredentials') {
  return client.discovery(
    new URL(oauth.issuer),
    oauth.clients[key].clientId,
    undefined,
    authFor(oauth, key),
    {
      execute: [client.allowInsecureRequests],
    },
  );
}

async function fetchError(url: string): Promise<unknown> {
  try {
    await fetch(url);
  } catch (err) {
    return err;
  }
  throw new Error(`fetch ${url} unexpectedly succeeded`);
}

describe('redis-server support', () => {
  let redis: RedisServer | undefined;
  afterAll(async () => {
    await redis?.destroy();
  });

  it('starts, survives SIGKILL with AOF and restarts on the same port and dir', async () => {
    redis = await startRedis({ appendonly: true });
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    const prefix = uniquePrefix('self test:{x}');
    expect(prefix).toMatch(/^tkt-self-test-x-[0-9a-f]{12}$/);
    expect(await redisCommand(redis.port, 'SET', `${prefix}-k`, 'v1')).toBe('+OK');
    expect(await redisCommand(redis.port, 'CONFIG', 'GET', 'hz')).toBe('*2');

    const firstPid = redis.pid;
    await redis.kill();
    expect(redis.running).toBe(false);
    expect(await redisPing(redis.port)).toBe(false);

    await redis.restart();
    expect(redis.pid).not.toBe(firstPid);
    expect(await redisCommand(redis.port, 'GET', `${prefix}-k`)).toBe('v1');

    await redis.stop();
    expect(await redisPing(redis.port)).toBe(false);
    await redis.stop(); // idempotent
  });
});

describe('oauth-server support', () => {
  let oauth: OAuthServer;
  beforeAll(async () => {
    oauth = await startOAuthServer({ accessTokenTtl: 30 });
  });
  afterAll(async () => {
    await oauth?.stop();
  });

  for (const key of ['basic', 'post', 'public'] as const) {
    it(`issues a refresh token for the ${key} client and openid-client refreshes with it (rotation on)`, async () => {
      const issued = await oauth.issueRefreshToken(key);
      expect(issued.refreshToken).toBeTruthy();
      expect(issued.expiresIn).toBe(30);
      expect((await oauth.introspect(issued.accessToken)).active).toBe(true);

      const config = await configFor(oauth, key);
      oauth.resetCounters();
      const refreshed = await client.refreshTokenGrant(config, issued.refreshToken);
      expect(refreshed.access_token).toBeTruthy();
      expect(refreshed.refresh_token).toBeTruthy();
      expect(refreshed.refresh_token).not.toBe(issued.refreshToken);
      expect(refreshed.expiresIn()).toBeGreaterThan(0);
      expect(oauth.grantCount('refresh_token')).toBe(1);

      // Reuse of the rotated token: invalid_grant, and the whole grant is revoked.
      const err = await client.refreshTokenGrant(config, issued.refreshToken).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(client.ResponseBodyError);
      expect((err as client.ResponseBodyError).error).toBe('invalid_grant');
      expect((err as client.ResponseBodyError).status).toBe(400);
      const counters = oauth.counters;
      expect(counters.invalidGrant).toBe(1);
      expect(counters.refreshTokenReuse).toBe(1);
      expect(counters.grantsRevoked).toBe(1);
      expect(counters.errors[0]).toMatchObject({ event: 'grant.error', error: 'invalid_grant' });

      expect((await oauth.introspect(refreshed.refresh_token!)).active).toBe(false);
      expect((await oauth.introspect(refreshed.access_token)).active).toBe(false);
    });
  }

  it('issues client_credentials tokens (plain scope and resource indicator)', async () => {
    const config = await configFor(oauth, 'clientCredentials');
    const plain = await client.clientCredentialsGrant(config, { scope: 'api' });
    expect(plain.access_token).toBeTruthy();
    expect(plain.expires_in).toBe(30);
    expect(plain.scope).toBe('api');
    const info = await oauth.introspect(plain.access_token);
    expect(info).toMatchObject({ active: true, client_id: oauth.clients.clientCredentials.clientId });

    const bound = await client.clientCredentialsGrant(config, { scope: 'api', resource: oauth.apiResource });
    expect(await oauth.introspect(bound.access_token)).toMatchObject({
      active: true,
      aud: oauth.apiResource,
    });
    expect(oauth.grantCount('client_credentials')).toBe(2);
  });

  it('expires access tokens after the configured TTL', async () => {
    oauth.setAccessTokenTtl(1);
    try {
      const issued = await oauth.issueRefreshToken('basic');
      expect(issued.expiresIn).toBe(1);
      expect((await oauth.introspect(issued.accessToken)).active).toBe(true);
      await waitFor(async () => !(await oauth.introspect(issued.accessToken)).active, {
        timeoutMs: 4000,
        intervalMs: 200,
        message: 'access token to expire',
      });
    } finally {
      oauth.setAccessTokenTtl(30);
    }
  });

  it('two parallel refreshes with one token: one wins, one gets invalid_grant', async () => {
    const issued = await oauth.issueRefreshToken('post');
    const config = await configFor(oauth, 'post');
    const results = await Promise.allSettled([
      client.refreshTokenGrant(config, issued.refreshToken),
      client.refreshTokenGrant(config, issued.refreshToken),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
    expect((failed[0]!.reason as client.ResponseBodyError).error).toBe('invalid_grant');
  });

  it('keeps the refresh token when rotation is off', async () => {
    const noRotate = await startOAuthServer({ rotateRefreshToken: false });
    try {
      const issued = await noRotate.issueRefreshToken('basic');
      const config = await configFor(noRotate, 'basic');
      const a = await client.refreshTokenGrant(config, issued.refreshToken);
      const b = await client.refreshTokenGrant(config, issued.refreshToken);
      expect(a.refresh_token).toBe(issued.refreshToken);
      expect(b.refresh_token).toBe(issued.refreshToken);
      expect(noRotate.counters.invalidGrant).toBe(0);
    } finally {
      await noRotate.stop();
    }
  });
});

describe('fault-proxy support', () => {
  let oauth: OAuthServer;
  let proxy: FaultProxy;
  beforeAll(async () => {
    oauth = await startOAuthServer();
    proxy = await startFaultProxy(oauth.issuer);
  });
  afterAll(async () => {
    await proxy?.stop();
    await oauth?.stop();
  });
  /** openid-client pointed at the proxy, as the client-credentials client. */
  const viaProxy = () => {
    const config = new client.Configuration(
      oauth.metadataVia(proxy.url),
      oauth.clients.clientCredentials.clientId,
      undefined,
      client.ClientSecretBasic(oauth.clients.clientCredentials.clientSecret),
    );
    client.allowInsecureRequests(config);
    return config;
  };

  it('passes requests through intact (method, query, headers, body)', async () => {
    const res = await fetch(`${proxy.url}/.well-known/openid-configuration?x=1`, {
      headers: { accept: 'application/json' },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { issuer: string }).issuer).toBe(oauth.issuer);

    // A real token call through the proxy, with openid-client pointed at the proxy.
    const config = viaProxy();
    const tokens = await client.clientCredentialsGrant(config, { scope: 'api' });
    expect(tokens.access_token).toBeTruthy();
    expect(proxy.stats.forwarded).toBe(2);
    expect(proxy.requests.at(-1)).toMatchObject({
      method: 'POST',
      url: '/token',
      outcome: 'pass',
      status: 200,
    });
  });

  it('forwards method, path, query, headers and body; returns status, headers and body intact', async () => {
    const echo = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(418, { 'x-upstream': 'yes', 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            method: req.method,
            url: req.url,
            auth: req.headers.authorization,
            custom: req.headers['x-custom'],
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      });
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const echoPort = (echo.address() as AddressInfo).port;
    const echoProxy = await startFaultProxy(`http://127.0.0.1:${echoPort}/base`);
    try {
      const res = await fetch(`${echoProxy.url}/p/q?a=1&b=two`, {
        method: 'PUT',
        headers: { authorization: 'Bearer abc', 'x-custom': 'v' },
        body: 'hello=world',
      });
      expect(res.status).toBe(418);
      expect(res.headers.get('x-upstream')).toBe('yes');
      expect(await res.json()).toEqual({
        method: 'PUT',
        url: '/base/p/q?a=1&b=two',
        auth: 'Bearer abc',
        custom: 'v',
        body: 'hello=world',
      });
      expect(echoProxy.stats).toMatchObject({ received: 1, forwarded: 1, failed: 0 });
    } finally {
      await echoProxy.stop();
      await new Promise((resolve) => echo.close(resolve));
    }
  });

  it('refuse: connections are refused, and pass re-listens on the same port', async () => {
    const port = proxy.port;
    await proxy.set({ mode: 'refuse' });
    const err = (await fetchError(`${proxy.url}/.well-known/openid-configuration`)) as Error & {
      cause?: { code?: string };
    };
    expect(err).toBeInstanceOf(TypeError);
    expect(err.cause?.code).toBe('ECONNREFUSED');

    await proxy.set({ mode: 'pass' });
    expect(proxy.port).toBe(port);
    expect((await fetch(`${proxy.url}/.well-known/openid-configuration`)).status).toBe(200);
  });

  it('status: answers 503 with Retry-After; openid-client surfaces a non-conform response', async () => {
    await proxy.set({ mode: 'status', status: 503, retryAfter: 2 });
    const res = await fetch(`${proxy.url}/token`, { method: 'POST', body: 'a=b' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('2');

    const config = viaProxy();
    const err = await client.clientCredentialsGrant(config, { scope: 'api' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(client.ClientError);
    expect((err as client.ClientError).code).toBe('OAUTH_RESPONSE_IS_NOT_CONFORM');
    expect(((err as Error).cause as Response).headers.get('retry-after')).toBe('2');
    expect(proxy.stats.failed).toBeGreaterThanOrEqual(2);
    await proxy.set({ mode: 'pass', retryAfter: undefined });
  });

  it('hang, garbage, reset, latency and failureRate', async () => {
    await proxy.set({ mode: 'hang' });
    const hung = await fetch(`${proxy.url}/token`, { signal: AbortSignal.timeout(200) }).catch(
      (e: unknown) => e,
    );
    expect((hung as Error).name).toBe('TimeoutError');

    await proxy.set({ mode: 'garbage' });
    const garbage = await fetch(`${proxy.url}/token`);
    expect(garbage.status).toBe(200);
    await expect(garbage.json()).rejects.toThrow();

    await proxy.set({ mode: 'reset' });
    expect(await fetchError(`${proxy.url}/token`)).toBeInstanceOf(TypeError);

    await proxy.set({ mode: 'pass', latencyMs: 150 });
    const started = Date.now();
    expect((await fetch(`${proxy.url}/jwks`)).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);

    await proxy.set({ latencyMs: 0, failureRate: 1, failureStatus: 502 });
    expect((await fetch(`${proxy.url}/jwks`)).status).toBe(502);
    await proxy.set({ failureRate: 0 });
    expect((await fetch(`${proxy.url}/jwks`)).status).toBe(200);
  });
});

describe('wait helpers', () => {
  it('waitFor returns the first truthy value and times out with the message', async () => {
    let n = 0;
    expect(await waitFor(() => (++n >= 3 ? n : 0), { intervalMs: 1 })).toBe(3);
    await expect(waitFor(() => false, { timeoutMs: 50, message: 'never' })).rejects.toThrow(/never/);
    const t = Date.now();
    await sleep(20);
    expect(Date.now() - t).toBeGreaterThanOrEqual(18);
  });
});
