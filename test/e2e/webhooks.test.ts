import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  CreatedSubscription,
  CredentialView,
  DeliveryView,
  Page,
  Problem,
  SubscriptionView,
  TokenBody,
  WebhookBody,
} from '../support/api-types.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';
import { leakedSecrets } from '../support/redis-dump.js';
import { type ApiClient, type Stack, startStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  answered: number;
}

/** A receiver under the test's control: `/ok` answers 204, `/flaky` fails each message 3 times, `/broken` fails while `broken`. */
function startReceiver() {
  const received: Received[] = [];
  const failuresById = new Map<string, number>();
  const state = { broken: true };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      const id = String(req.headers['webhook-id']);
      let status = 204;
      if (req.url === '/flaky') {
        const failures = failuresById.get(id) ?? 0;
        if (failures < 3) {
          failuresById.set(id, failures + 1);
          status = 500;
        }
      } else if (req.url === '/broken' && state.broken) {
        status = 503;
      }
      received.push({ path: req.url ?? '', headers: req.headers, body, answered: status });
      res.writeHead(status).end(status >= 400 ? 'nope' : undefined);
    });
  });
  return {
    received,
    state,
    listen: () =>
      new Promise<string>((resolve) =>
        server.listen(0, '127.0.0.1', () =>
          resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
        ),
      ),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Issue 5, acceptance 6: webhooks signed per Standard Webhooks, retried with backoff until the
 * receiver recovers, dead-lettered after the last attempt and re-driven through the API.
 */
describe('webhooks', () => {
  let stack: Stack;
  let oauth: OAuthServer;
  let client: ApiClient;
  const receiver = startReceiver();
  let receiverUrl: string;

  beforeAll(async () => {
    oauth = await startOAuthServer({ accessTokenTtl: 600 });
    receiverUrl = await receiver.listen();
    stack = await startStack({
      name: 'wh',
      env: { TK_WEBHOOK_ATTEMPTS: '5', TK_WEBHOOK_BACKOFF_MS: '200', TK_WEBHOOK_TIMEOUT_MS: '2000' },
    });
    client = stack.admin;
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver.close();
    await oauth?.stop();
  });

  it('delivers signed events, retries until the receiver recovers, dead-letters and re-drives', async () => {
    const subscribe = async (path: string, extra: Record<string, unknown> = {}) => {
      const res = await client.post<CreatedSubscription>('/v1/subscriptions', {
        url: `${receiverUrl}${path}`,
        eventTypes: ['token.updated'],
        ...extra,
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.secret).toMatch(/^whsec_/);
      return res.body;
    };
    const ok = await subscribe('/ok', { labelSelector: { team: 'payments' }, description: 'payments team' });
    const flaky = await subscribe('/flaky');
    const broken = await subscribe('/broken');
    const otherTeam = await subscribe('/ok', { labelSelector: { team: 'search' } });
    const allTypes = await client.post<CreatedSubscription>('/v1/subscriptions', {
      url: `${receiverUrl}/all`,
    });

    // The secret is shown once: reads never carry it.
    const read = await client.get<Record<string, unknown>>(`/v1/subscriptions/${ok.id}`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: ok.id, labelSelector: { team: 'payments' }, enabled: true });
    expect(JSON.stringify(read.body)).not.toContain(ok.secret);
    const listed = await client.get<Page<SubscriptionView>>('/v1/subscriptions');
    expect(listed.body.items.map((s) => s.id)).toEqual([
      ok.id,
      flaky.id,
      broken.id,
      otherTeam.id,
      allTypes.body.id,
    ]);

    // A client_credentials credential: its first token and a manual refresh make token.updated events.
    const cc = oauth.clients.clientCredentials;
    const reg = await client.post<CredentialView>('/v1/credentials', {
      kind: 'oauth2.client_credentials',
      name: 'payments-api',
      labels: { team: 'payments' },
      issuer: oauth.issuer,
      clientId: cc.clientId,
      clientSecret: cc.clientSecret,
      scope: 'api',
    });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    const credentialId = reg.body.id;
    await waitFor(
      async () =>
        (await client.get<CredentialView>(`/v1/credentials/${credentialId}`)).body.tokenVersion === 1,
      {
        timeoutMs: 15_000,
        message: 'first token',
      },
    );
    expect((await client.post(`/v1/credentials/${credentialId}/refresh`)).status).toBe(202);
    await waitFor(
      async () =>
        (await client.get<CredentialView>(`/v1/credentials/${credentialId}`)).body.tokenVersion === 2,
      {
        timeoutMs: 15_000,
        message: 'manual refresh',
      },
    );

    // /ok: both token.updated events, each signed so the library's verifier accepts it.
    const okBodies = await waitFor(
      () => {
        const got = receiver.received.filter((r) => r.path === '/ok');
        return got.length >= 2 ? got : undefined;
      },
      { timeoutMs: 10_000, message: 'two deliveries to /ok' },
    );
    const verifier = new Webhook(ok.secret);
    for (const r of okBodies) {
      const payload = verifier.verify(r.body, r.headers as Record<string, string>) as WebhookBody;
      expect(payload.type).toBe('token.updated');
      expect(payload.data.credentialId).toBe(credentialId);
      expect(Date.parse(payload.timestamp)).not.toBeNaN();
      expect(() => new Webhook(flaky.secret).verify(r.body, r.headers as Record<string, string>)).toThrow();
    }
    expect(okBodies.map((r) => (JSON.parse(r.body) as WebhookBody).data.data.tokenVersion)).toEqual([1, 2]);

    // /flaky: fails 3 times per message, then succeeds: each message arrives successfully exactly once.
    await waitFor(
      () => receiver.received.filter((r) => r.path === '/flaky' && r.answered === 204).length === 2,
      {
        timeoutMs: 20_000,
        message: 'flaky receiver recovered',
      },
    );
    const flakyById = Map.groupBy(
      receiver.received.filter((r) => r.path === '/flaky'),
      (r) => String(r.headers['webhook-id']),
    );
    expect(flakyById.size).toBe(2);
    for (const attempts of flakyById.values())
      expect(attempts.map((a) => a.answered)).toEqual([500, 500, 500, 204]);
    const flakyDeliveries = await client.get<Page<DeliveryView>>(`/v1/subscriptions/${flaky.id}/deliveries`);
    expect(flakyDeliveries.body.items).toHaveLength(2);
    for (const d of flakyDeliveries.body.items) {
      expect(d.status).toBe('delivered');
      expect(d.attempts.map((a) => a.statusCode)).toEqual([500, 500, 500, 204]);
    }

    // /broken: every attempt fails, so both deliveries end in the dead-letter list.
    const dead = await waitFor(
      async () => {
        const res = await client.get<Page<DeliveryView>>(
          `/v1/subscriptions/${broken.id}/deliveries?status=dead`,
        );
        return res.body.items.length === 2 ? res.body.items : undefined;
      },
      { timeoutMs: 20_000, message: 'dead letters' },
    );
    for (const d of dead) {
      expect(d.deadLettered).toBe(true);
      expect(d.attempts).toHaveLength(5);
      expect(d.attempts.every((a) => a.outcome === 'failure' && a.statusCode === 503)).toBe(true);
    }
    // Re-drive one delivery, then the rest, once the receiver is fixed.
    receiver.state.broken = false;
    const one = await client.post<DeliveryView>(
      `/v1/subscriptions/${broken.id}/deliveries/${dead[0]!.id}/redrive`,
    );
    expect(one.status).toBe(202);
    expect(one.body).toMatchObject({ status: 'pending', redrives: 1 });
    const rest = await client.post<Page<DeliveryView>>(`/v1/subscriptions/${broken.id}/redrive`);
    expect(rest.status).toBe(202);
    expect(rest.body.items.map((d) => d.id)).toEqual([dead[1]!.id]);
    await waitFor(
      async () => {
        const res = await client.get<Page<DeliveryView>>(`/v1/subscriptions/${broken.id}/deliveries`);
        return res.body.items.every((d) => d.status === 'delivered');
      },
      { timeoutMs: 10_000, message: 're-driven deliveries delivered' },
    );
    const brokenOk = receiver.received.filter((r) => r.path === '/broken' && r.answered === 204);
    expect(brokenOk.map((r) => r.headers['webhook-id']).sort()).toEqual(dead.map((d) => d.webhookId).sort());
    for (const r of brokenOk)
      expect(() =>
        new Webhook(broken.secret).verify(r.body, r.headers as Record<string, string>),
      ).not.toThrow();
    expect(
      (await client.get<Page<DeliveryView>>(`/v1/subscriptions/${broken.id}/deliveries?status=dead`)).body
        .items,
    ).toEqual([]);

    // The label selector kept the other team's subscription quiet; the unfiltered one got every event type.
    expect(
      (await client.get<Page<DeliveryView>>(`/v1/subscriptions/${otherTeam.id}/deliveries`)).body.items,
    ).toEqual([]);
    await waitFor(
      () => receiver.received.some((r) => r.path === '/all' && r.body.includes('"credential.registered"')),
      {
        message: 'registration event to the unfiltered subscription',
      },
    );

    // No body ever carried a secret: the access tokens, the client secret.
    const secrets = new Set([cc.clientSecret]);
    const token = await client.get<TokenBody>(`/v1/credentials/${credentialId}/token`);
    secrets.add(token.body.accessToken);
    const bodies = receiver.received.map((r) => `${JSON.stringify(r.headers)}\n${r.body}`).join('\n');
    expect(leakedSecrets(bodies, secrets)).toEqual([]);
    expect(bodies).not.toMatch(/access_?token/i);
  });

  it('manages subscriptions: validation, updates, deletion, unknown ids', async () => {
    const bad = await client.post<Problem>('/v1/subscriptions', {
      url: 'ftp://example.com',
      eventTypes: ['token.nope'],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors?.map((e) => e.field).sort()).toEqual(['eventTypes.0', 'url']);
    const weakSecret = await client.post<Problem>('/v1/subscriptions', {
      url: `${receiverUrl}/ok`,
      secret: 'hunter2',
    });
    expect(weakSecret.status).toBe(422);
    expect(weakSecret.body.errors?.[0]?.field).toBe('secret');
    const metadata = await client.post<Problem>('/v1/subscriptions', {
      url: 'http://169.254.169.254/latest',
    });
    expect(metadata.status).toBe(422);
    expect(metadata.body.errors?.[0]?.field).toBe('url');

    const supplied = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
    const created = await client.post<CreatedSubscription>('/v1/subscriptions', {
      url: `${receiverUrl}/ok`,
      secret: supplied,
    });
    expect(created.status).toBe(201);
    expect(created.body.secret).toBe(supplied);
    const patched = await client.patch<SubscriptionView>(`/v1/subscriptions/${created.body.id}`, {
      enabled: false,
      eventTypes: ['refresh.failed'],
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ enabled: false, eventTypes: ['refresh.failed'] });
    expect((await client.delete(`/v1/subscriptions/${created.body.id}`)).status).toBe(204);
    expect((await client.get(`/v1/subscriptions/${created.body.id}`)).status).toBe(404);
    expect((await client.get('/v1/subscriptions/nope')).status).toBe(404);
    expect((await client.get(`/v1/subscriptions/${created.body.id}/deliveries`)).status).toBe(404);
  });
});
