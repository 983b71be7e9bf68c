import { createServer, request as httpRequest, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyGrantFailure, OUTCOME_UNKNOWN } from '#core';
import { GrantError, type GrantRequest, OAuthGrantClient } from '#grants';
import { SHIPPED_OAUTH_GRANTS as grants } from '../support/oauth-grants.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';

/**
 * A rotating provider (oidc-provider: a refresh token presented twice revokes the grant) behind a
 * relay that forwards each token request at once and then delays or loses the answer. The
 * provider has rotated the refresh token by the time the answer is late: the grant client must
 * keep that answer, never give up on it and retry with the consumed token.
 */

type Delivery = { mode: 'hold'; ms: number } | { mode: 'stall'; ms: number } | { mode: 'reset' };

function busyWait(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // spin
  }
}

describe('grant outcomes against a rotating provider', () => {
  let oauth: OAuthServer;
  let relay: Server;
  let relayUrl = '';
  let delivery: Delivery = { mode: 'hold', ms: 0 };
  const client = new OAuthGrantClient({ grants });

  beforeAll(async () => {
    oauth = await startOAuthServer({ rotateRefreshToken: true });
    relay = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const upstream = httpRequest(
          oauth.tokenEndpoint,
          { method: req.method, headers: { ...req.headers, host: new URL(oauth.issuer).host } },
          (answer) => {
            const body: Buffer[] = [];
            answer.on('data', (c: Buffer) => body.push(c));
            answer.on('end', () => {
              const relayAnswer = () =>
                res.writeHead(answer.statusCode ?? 502, answer.headers).end(Buffer.concat(body));
              if (delivery.mode === 'reset') return req.socket.resetAndDestroy();
              if (delivery.mode === 'hold') return void setTimeout(relayAnswer, delivery.ms);
              relayAnswer();
              // The answer is on its way to the client; the process stalls past the client's deadline.
              busyWait(delivery.ms);
            });
          },
        );
        upstream.end(Buffer.concat(chunks));
      });
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    relayUrl = `http://127.0.0.1:${(relay.address() as { port: number }).port}/token`;
  });

  afterAll(async () => {
    relay?.closeAllConnections();
    await new Promise((r) => relay?.close(r));
    await oauth?.stop();
  });

  const refresh = (
    refreshToken: string,
    timing: Pick<GrantRequest, 'timeoutMs' | 'deadlineMs'>,
  ): GrantRequest => ({
    kind: 'oauth2.refresh_token',
    grant: {
      tokenEndpoint: relayUrl,
      issuer: oauth.issuer,
      clientId: oauth.clients.public.clientId,
      clientAuth: 'none',
    },
    secrets: { refreshToken },
    ...timing,
  });

  it('keeps an answer that comes after the soft timeout: the rotated token is returned and works', async () => {
    const issued = await oauth.issueRefreshToken('public');
    oauth.resetCounters();
    delivery = { mode: 'hold', ms: 700 };
    const result = await client.execute(refresh(issued.refreshToken, { timeoutMs: 200, deadlineMs: 5_000 }));
    expect(result.refreshToken).toBeTruthy();
    expect(result.refreshToken).not.toBe(issued.refreshToken);
    expect((await oauth.introspect(result.accessToken)).active).toBe(true);
    expect(result.receivedAt - result.sentAt).toBeGreaterThanOrEqual(690);
    // The next refresh presents the rotated token: no reuse, the grant lives.
    delivery = { mode: 'hold', ms: 0 };
    const next = await client.execute(refresh(result.refreshToken!, { timeoutMs: 2_000 }));
    expect((await oauth.introspect(next.accessToken)).active).toBe(true);
    expect(oauth.counters.refreshTokenReuse).toBe(0);
    expect(oauth.counters.grantsRevoked).toBe(0);
  });

  it('keeps an answer that arrived while the process stalled past the deadline', async () => {
    const issued = await oauth.issueRefreshToken('public');
    delivery = { mode: 'stall', ms: 1_500 };
    const started = Date.now();
    const result = await client.execute(refresh(issued.refreshToken, { timeoutMs: 300, deadlineMs: 600 }));
    expect(Date.now() - started).toBeGreaterThan(1_500);
    expect(result.refreshToken).not.toBe(issued.refreshToken);
    expect((await oauth.introspect(result.accessToken)).active).toBe(true);
  });

  it('an answer lost after the provider rotated is OUTCOME_UNKNOWN, never a plain transient failure', async () => {
    const issued = await oauth.issueRefreshToken('public');
    for (const lost of [
      { mode: 'reset', timing: { timeoutMs: 2_000 } },
      { mode: 'hold', ms: 3_000, timing: { timeoutMs: 200, deadlineMs: 800 } },
    ] as const) {
      delivery = lost.mode === 'reset' ? { mode: 'reset' } : { mode: 'hold', ms: lost.ms };
      const err = await client.execute(refresh(issued.refreshToken, lost.timing)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GrantError);
      expect(classifyGrantFailure((err as GrantError).failure)).toMatchObject({
        class: 'transient',
        code: OUTCOME_UNKNOWN,
        outcome: 'unknown',
      });
    }
  });
});
