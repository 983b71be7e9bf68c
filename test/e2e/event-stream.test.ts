import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CredentialView, EventBody, FeedItem, Page, Problem, TokenBody } from '../support/api-types.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';
import { TEST_ADMIN_KEY } from '../support/processes.js';
import { connectSse, type SseConnection } from '../support/sse-client.js';
import { type ApiClient, type Stack, startStack } from '../support/stack.js';
import { sleep, waitFor } from '../support/wait.js';

const auth = { authorization: `Bearer ${TEST_ADMIN_KEY}` };
const events = (c: SseConnection) => c.messages.filter((m) => m.event !== 'ready');
const revisions = (c: SseConnection) => events(c).map((m) => (JSON.parse(m.data) as EventBody).revision);

/**
 * Issue 5, acceptance 7: the server-sent event stream. A client that disconnects for 5 s and
 * reconnects with Last-Event-ID gets every event it missed, in order, without duplicates.
 */
describe('event stream (SSE) and polling feed', () => {
  let stack: Stack;
  let oauth: OAuthServer;
  let client: ApiClient;
  let credentialId: string;

  beforeAll(async () => {
    oauth = await startOAuthServer({ accessTokenTtl: 600 });
    stack = await startStack({
      name: 'sse',
      env: { TK_EVENT_STREAM_HEARTBEAT_MS: '1000', TK_EVENT_STREAM_MAX_STREAMS: '3' },
    });
    client = stack.admin;
    const cc = oauth.clients.clientCredentials;
    const reg = await client.post<CredentialView>('/v1/credentials', {
      kind: 'oauth2.client_credentials',
      name: 'sse-service',
      issuer: oauth.issuer,
      clientId: cc.clientId,
      clientSecret: cc.clientSecret,
      scope: 'api',
    });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    credentialId = reg.body.id;
    await waitFor(
      async () =>
        (await client.get<CredentialView>(`/v1/credentials/${credentialId}`)).body.state === 'active',
      {
        timeoutMs: 15_000,
        message: 'first token',
      },
    );
  });

  afterAll(async () => {
    await stack?.stop();
    await oauth?.stop();
  });

  const rename = async (name: string) => {
    const res = await client.patch(`/v1/credentials/${credentialId}`, { name });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  };
  const currentRevision = async () =>
    (await client.get<CredentialView>(`/v1/credentials/${credentialId}`)).body.revision;

  it('resumes after a 5 s disconnect with Last-Event-ID: every missed event, in order, once', async () => {
    const url = `${stack.url}/v1/events/stream?credentialId=${credentialId}`;
    const first = await connectSse(url, auth);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await waitFor(() => first.messages[0]?.event === 'ready', { message: 'ready message' });
    const startRevision = await currentRevision();

    await rename('sse-1');
    await rename('sse-2');
    await waitFor(() => events(first).length === 2, { message: 'two live events' });
    // It really streams: events arrive while the response is still open.
    expect(events(first).map((m) => m.event)).toEqual(['credential.updated', 'credential.updated']);
    const resumeId = first.lastEventId()!;
    first.close();
    await first.ended;

    // While the client is away: renames and a manual refresh (token.updated from the worker).
    const awayUntil = Date.now() + 5_000;
    await rename('sse-3');
    expect((await client.post(`/v1/credentials/${credentialId}/refresh`)).status).toBe(202);
    // Renames wait for the refresh: a rename during a refresh makes the refresh give up its result
    // (RevisionConflict in RefreshService; reported separately).
    await waitFor(
      async () =>
        (
          await client.get<Page<EventBody>>(`/v1/credentials/${credentialId}/events?after=${startRevision}`)
        ).body.items.some((e) => e.type === 'token.updated'),
      { timeoutMs: 10_000, message: 'manual refresh done' },
    );
    await rename('sse-4');
    await rename('sse-5');
    // The disconnect itself is under test: the client stays away the whole 5 s.
    await sleep(Math.max(0, awayUntil - Date.now()));

    const second = await connectSse(url, { ...auth, 'last-event-id': resumeId });
    expect(second.status).toBe(200);
    const expectedTotal = (await currentRevision()) - startRevision;
    await waitFor(() => events(first).length + events(second).length >= expectedTotal, {
      timeoutMs: 10_000,
      message: `${expectedTotal} events over both connections`,
    });
    // The replay is over once the stream idles (a heartbeat): nothing may arrive twice before that.
    const beats = second.comments.length;
    await waitFor(() => second.comments.length > beats, {
      timeoutMs: 5_000,
      message: 'heartbeat after the replay',
    });
    second.close();

    const seen = [...revisions(first), ...revisions(second)];
    expect(seen).toEqual(Array.from({ length: expectedTotal }, (_, i) => startRevision + 1 + i));
    expect(events(second).map((m) => m.event)).toEqual([
      'credential.updated',
      'token.updated',
      'credential.updated',
      'credential.updated',
    ]);
    // Event bodies carry ids, versions and times, never the token.
    const token = (await client.get<TokenBody>(`/v1/credentials/${credentialId}/token`)).body.accessToken;
    for (const m of [...first.messages, ...second.messages]) expect(m.data).not.toContain(token);

    // SSE ids are feed cursors: polling after the resume id yields the same events.
    const polled = await client.get<Page<FeedItem>>(
      `/v1/events?after=${encodeURIComponent(resumeId)}&credentialId=${credentialId}`,
    );
    expect(polled.status).toBe(200);
    expect(polled.body.items.map((e) => e.revision)).toEqual(revisions(second));
    expect(polled.body.items.map((e) => e.cursor)).toEqual(events(second).map((m) => m.id));
    expect(polled.body.nextCursor).toBe(polled.body.items.at(-1)?.cursor);
  });

  it('sends heartbeats while idle and releases its Redis connection when the client leaves', async () => {
    const probe = new Redis(stack.redis.url);
    const streamConnections = async () =>
      String(await probe.call('CLIENT', 'LIST'))
        .split('\n')
        .filter((line) => line.includes('name=api:event-stream')).length;
    try {
      const conn = await connectSse(`${stack.url}/v1/events/stream?type=credential.revoked`, auth);
      await waitFor(() => conn.comments.includes('heartbeat'), { timeoutMs: 5_000, message: 'heartbeat' });
      expect(await streamConnections()).toBe(1);
      conn.close();
      await waitFor(async () => (await streamConnections()) === 0, {
        timeoutMs: 5_000,
        message: 'connection closed',
      });
    } finally {
      probe.disconnect();
    }
  });

  it('bounds concurrent streams and answers bad input with a problem naming the field', async () => {
    const open = await Promise.all([1, 2, 3].map(() => connectSse(`${stack.url}/v1/events/stream`, auth)));
    expect(open.map((c) => c.status)).toEqual([200, 200, 200]);
    const refused = await fetch(`${stack.url}/v1/events/stream`, { headers: auth });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(((await refused.json()) as Problem).code).toBe('TOO_MANY_STREAMS');
    for (const c of open) c.close();

    const badType = await client.get<Problem>('/v1/events?type=token.nope');
    expect(badType.status).toBe(400);
    expect(badType.body.errors?.[0]?.field).toBe('type.0');
    const badCursor = await client.get<Problem>('/v1/events?after=not-a-cursor');
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.code).toBe('INVALID_CURSOR');
    const badResume = await fetch(`${stack.url}/v1/events/stream`, {
      headers: { ...auth, 'last-event-id': 'garbage' },
    });
    expect(badResume.status).toBe(400);
    const anonymous = await fetch(`${stack.url}/v1/events/stream`);
    expect(anonymous.status).toBe(401);

    // Shutdown ends open streams instead of waiting for their clients.
    const lingering = await connectSse(`${stack.url}/v1/events/stream`, auth);
    expect(lingering.status).toBe(200);
    const started = Date.now();
    await stack.api.stop();
    await lingering.ended;
    // (Within the test the test client's keep-alive sockets add up to 4 s; a stream adds nothing.)
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(stack.api.logs()).not.toContain('event stream failed');
  });
});
