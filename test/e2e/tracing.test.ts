import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpanRecord } from '#telemetry';
import type { CreatedSubscription, CredentialView, TokenBody } from '../support/api-types.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';
import { TEST_ADMIN_KEY, TEST_ENCRYPTION_KEYS } from '../support/processes.js';
import { type Stack, startStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

const REGISTER = fileURLToPath(new URL('../../dist/libs/telemetry/src/register.js', import.meta.url));
const SERVER = 1;
const CLIENT = 2;

function readSpans(...files: string[]): SpanRecord[] {
  return files.flatMap((f) => {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as SpanRecord);
  });
}

/** The chain of spans from `span` up to its trace's root (within the spans recorded). */
function ancestors(span: SpanRecord, byId: Map<string, SpanRecord>): SpanRecord[] {
  const out: SpanRecord[] = [];
  let parent = span.parentSpanId ? byId.get(span.parentSpanId) : undefined;
  while (parent) {
    out.push(parent);
    parent = parent.parentSpanId ? byId.get(parent.parentSpanId) : undefined;
  }
  return out;
}

/**
 * Issue 6, acceptance 1: one manual refresh of a credential with a webhook subscription is one
 * trace — api request → BullMQ producer → worker's refresh → token-endpoint call and event append
 * → webhook delivery → POST to the receiver — across two processes, with no secret in any span.
 */
describe('tracing: one trace from the API request to the webhook delivery', () => {
  let stack: Stack;
  let oauth: OAuthServer;
  let receiver: Server;
  let receiverUrl: string;
  const received: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'tk-trace-'));
  const apiSpans = join(dir, 'api.jsonl');
  const workerSpans = join(dir, 'worker.jsonl');

  beforeAll(async () => {
    oauth = await startOAuthServer({ accessTokenTtl: 600 });
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        received.push(body);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    stack = await startStack({
      name: 'trace',
      env: {
        // The preload the launchers use: patches node:http for the outbound fetch.
        NODE_OPTIONS: `--import=${REGISTER}`,
      },
      apiEnv: { TK_OTEL_TEST_EXPORTER: `file:${apiSpans}` },
      workerEnv: { TK_OTEL_TEST_EXPORTER: `file:${workerSpans}` },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
    await oauth?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('links api, worker, token endpoint, event append and webhook delivery, with no secret in any span', async () => {
    const client = stack.admin;
    const issued = await oauth.issueRefreshToken('basic');
    const { clientId, clientSecret } = oauth.clients.basic;
    const reg = await client.post<CredentialView>('/v1/credentials', {
      kind: 'oauth2.refresh_token',
      issuer: oauth.issuer,
      clientId,
      clientSecret,
      refreshToken: issued.refreshToken,
    });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    const id = reg.body.id;
    await waitFor(
      async () => (await client.get<CredentialView>(`/v1/credentials/${id}`)).body.tokenVersion >= 1,
      { timeoutMs: 20_000, message: 'first token' },
    );
    const sub = await client.post<CreatedSubscription>('/v1/subscriptions', {
      url: `${receiverUrl}/hook`,
      eventTypes: ['token.updated'],
    });
    expect(sub.status, JSON.stringify(sub.body)).toBe(201);

    const refresh = await client.post(`/v1/credentials/${id}/refresh`);
    expect(refresh.status, JSON.stringify(refresh.body)).toBeLessThan(300);
    await waitFor(async () => received.some((b) => b.includes(id)), {
      timeoutMs: 20_000,
      message: 'webhook received',
    });
    const token = await client.get<TokenBody>(`/v1/credentials/${id}/token`);

    // The delivery span ends after the receiver answered: wait until it is written.
    const spans = await waitFor(
      async () => {
        const all = readSpans(apiSpans, workerSpans);
        return all.some((s) => s.name === 'tokenkeeper.webhook.delivery') ? all : undefined;
      },
      { timeoutMs: 10_000, message: 'delivery span exported' },
    );
    const request = spans.find(
      (s) =>
        s.service === 'tokenkeeper-api' &&
        s.kind === SERVER &&
        String(s.attributes['url.path']).endsWith(`/v1/credentials/${id}/refresh`),
    );
    expect(request, 'api request span').toBeDefined();
    const trace = spans.filter((s) => s.traceId === request!.traceId);
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    const chain = (s: SpanRecord) => ancestors(s, byId).map((a) => a.spanId);

    // The worker's refresh of this job (trigger manual) descends from the api request.
    const refreshSpan = trace.find(
      (s) => s.name === 'tokenkeeper.refresh' && s.attributes['tokenkeeper.refresh.trigger'] === 'manual',
    );
    expect(refreshSpan, 'refresh span in the request trace').toBeDefined();
    expect(refreshSpan!.service).toBe('tokenkeeper-worker');
    expect(chain(refreshSpan!)).toContain(request!.spanId);
    expect(refreshSpan!.attributes).toMatchObject({
      'tokenkeeper.credential.id': id,
      'tokenkeeper.credential.kind': 'oauth2.refresh_token',
      'tokenkeeper.token.version': 2,
      'tokenkeeper.refresh.outcome': 'success',
    });
    // BullMQ's producer (api) and consumer (worker) spans sit between them.
    const between = ancestors(refreshSpan!, byId);
    expect(between.some((s) => s.service === 'tokenkeeper-api' && s.kind === 3)).toBe(true);
    expect(between.some((s) => s.service === 'tokenkeeper-worker' && s.kind === 4)).toBe(true);

    // The call to the token endpoint, a child of the refresh, without its query or credentials.
    const tokenPort = new URL(oauth.issuer).port;
    const tokenCall = trace.find(
      (s) =>
        s.kind === CLIENT &&
        s.service === 'tokenkeeper-worker' &&
        String(s.attributes['server.port']) === tokenPort,
    );
    expect(tokenCall, 'token endpoint client span').toBeDefined();
    expect(chain(tokenCall!)).toContain(refreshSpan!.spanId);
    expect(tokenCall!.attributes['http.request.method']).toBe('POST');

    // The event append, a child of the refresh; the delivery and its POST descend from it.
    const append = trace.find(
      (s) =>
        s.name === 'tokenkeeper.event.append' &&
        s.service === 'tokenkeeper-worker' &&
        chain(s).includes(refreshSpan!.spanId),
    );
    expect(append, 'event append span').toBeDefined();
    const delivery = trace.find((s) => s.name === 'tokenkeeper.webhook.delivery');
    expect(delivery, 'delivery span in the same trace').toBeDefined();
    expect(chain(delivery!)).toContain(append!.spanId);
    expect(delivery!.attributes).toMatchObject({
      'tokenkeeper.subscription.id': sub.body.id,
      'tokenkeeper.delivery.outcome': 'delivered',
    });
    const post = trace.find(
      (s) => s.kind === CLIENT && String(s.attributes['server.port']) === new URL(receiverUrl).port,
    );
    expect(post, 'webhook POST client span').toBeDefined();
    expect(chain(post!)).toContain(delivery!.spanId);
    // Parents start before their children.
    for (const s of trace) {
      const parent = s.parentSpanId ? byId.get(s.parentSpanId) : undefined;
      if (parent) expect(s.startTimeMs).toBeGreaterThanOrEqual(parent.startTimeMs - 1);
    }

    // No secret anywhere in what was exported, from either process.
    const dump = JSON.stringify(spans);
    const secrets = [
      clientSecret,
      issued.refreshToken,
      issued.accessToken,
      token.body.accessToken,
      sub.body.secret,
      TEST_ADMIN_KEY,
      TEST_ENCRYPTION_KEYS.split(':')[1]!,
    ];
    for (const secret of secrets) expect(dump.includes(secret), 'a secret in a span').toBe(false);
    expect(dump).not.toMatch(/"url\.query"|authorization/i);
  });
});
