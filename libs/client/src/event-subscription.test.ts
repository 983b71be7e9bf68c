import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeTokenkeeper, startFakeTokenkeeper } from '../test/fake-tokenkeeper.js';
import type { TokenkeeperClientError } from './errors.js';
import type { TokenkeeperEvent } from './event-subscription.js';
import { createTokenProvider, type TokenProvider } from './token-provider.js';

let tk: FakeTokenkeeper;
let p: TokenProvider;

const until = async (check: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};
const sse = (id: string, type: string, data: Record<string, unknown>, revision = 1) =>
  `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify({ type, credentialId: 'cred-1', revision, at: '2030-01-01T00:00:00.000Z', namespace: 'default', data })}\n\n`;
const streamRequests = () => tk.requests.filter((r) => r.path.startsWith('/v1/events/stream'));

beforeEach(async () => {
  tk = await startFakeTokenkeeper({ now: Date.now });
  p = createTokenProvider({
    baseUrl: tk.url,
    apiKey: 'tk_k',
    credentialId: 'cred-1',
    onWarning: () => undefined,
  });
});
afterEach(async () => {
  await p.close();
  await tk.stop();
});

describe('subscribe', () => {
  it('delivers the credential’s events, filtered by type, with the API key', async () => {
    const events: TokenkeeperEvent[] = [];
    p.subscribe((e) => void events.push(e), { types: ['token.updated'] });
    await until(() => tk.streams.length === 1);
    expect(streamRequests()[0]).toMatchObject({
      path: '/v1/events/stream?credentialId=cred-1',
      authorization: 'Bearer tk_k',
      lastEventId: undefined,
    });
    tk.write(': keep-alive\n\n');
    tk.write(sse('1-0', 'refresh.failed', { attempt: 1 }));
    tk.write(sse('2-0', 'token.updated', { tokenVersion: 2, expiresAt: '2030-01-01T00:05:00.000Z' }, 2));
    await until(() => events.length === 1);
    expect(events[0]).toEqual({
      id: '2-0',
      type: 'token.updated',
      credentialId: 'cred-1',
      revision: 2,
      at: '2030-01-01T00:00:00.000Z',
      namespace: 'default',
      data: { tokenVersion: 2, expiresAt: '2030-01-01T00:05:00.000Z' },
    });
  });

  it('reconnects with backoff and resumes with Last-Event-ID', async () => {
    const events: string[] = [];
    const errors: TokenkeeperClientError[] = [];
    p.subscribe((e) => void events.push(e.id), {
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
      onError: (e) => errors.push(e),
    });
    await until(() => tk.streams.length === 1);
    tk.write(sse('5-0', 'token.updated', { tokenVersion: 2 }));
    await until(() => events.length === 1);
    tk.dropStreams();
    await until(() => streamRequests().length === 2 && tk.streams.length === 1);
    expect(streamRequests().at(-1)?.lastEventId).toBe('5-0');
    tk.write(sse('6-0', 'token.updated', { tokenVersion: 3 }));
    await until(() => events.length === 2);
    expect(events).toEqual(['5-0', '6-0']);

    // While the service refuses the stream, it keeps trying (and says why).
    tk.override((req, res) => {
      if (!req.url?.startsWith('/v1/events/stream')) return false;
      res.writeHead(503).end();
      return true;
    });
    tk.dropStreams();
    await until(() => errors.some((e) => e.code === 'STREAM_REFUSED'));
    const refused = streamRequests().length;
    tk.override(undefined);
    await until(() => streamRequests().length > refused && tk.streams.length === 1);
    expect(streamRequests().at(-1)?.lastEventId).toBe('6-0');
  });

  it('replaces a connection that stays silent past the idle timeout', async () => {
    const errors: string[] = [];
    p.subscribe(() => undefined, {
      idleTimeoutMs: 100,
      reconnect: { initialDelayMs: 10 },
      onError: (e) => errors.push(e.message),
    });
    await until(() => streamRequests().length >= 2);
    expect(errors[0]).toMatch(/nothing received for 100 ms/);
  });

  it('reports a throwing handler and a malformed event without ending the subscription', async () => {
    const errors: string[] = [];
    const seen: string[] = [];
    p.subscribe(
      (e) => {
        seen.push(e.id);
        if (e.id === '1') throw new Error('boom');
      },
      { onError: (e) => errors.push(e.code) },
    );
    await until(() => tk.streams.length === 1);
    tk.write(sse('1', 'x', {}));
    tk.write('id: 2\ndata: not json\n\n');
    tk.write(sse('3', 'x', {}));
    await until(() => seen.length === 2);
    expect(seen).toEqual(['1', '3']);
    expect(errors).toEqual(['HANDLER_FAILED', 'BAD_EVENT']);
  });

  it('token.updated makes the next getToken ask the service; unsubscribe closes the stream', async () => {
    const seen: string[] = [];
    const stop = p.subscribe((e) => void seen.push(e.id));
    await until(() => tk.streams.length === 1);
    expect(await p.getToken()).toBe('at-1');
    tk.rotate(); // a scheduled refresh on the service
    tk.write(sse('9', 'token.updated', { tokenVersion: 2 }));
    await until(() => seen.includes('9')); // the provider sees an event before the handler does
    expect(await p.getToken()).toBe('at-2');
    await stop();
    await until(() => tk.streams.length === 0);
  });
});
