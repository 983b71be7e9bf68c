import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { TokenkeeperApiClient } from '#client';
import { SecretRedactor } from '../../../apps/agent/src/http/secret-redactor.js';
import { EventStream, type StreamEvent } from '../../../apps/agent/src/watch/event-stream.js';
import { waitFor } from '../../support/wait.js';

/**
 * A response whose body arrives in exactly these chunks (no coalescing, unlike a socket); then
 * it ends, or with `keepOpen` stays open until `signal` aborts, as fetch's body does.
 */
function streamOf(chunks: readonly string[], keepOpen: AbortSignal | undefined): Response {
  const encoder = new TextEncoder();
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[i++];
      if (chunk !== undefined) controller.enqueue(encoder.encode(chunk));
      else if (!keepOpen) controller.close();
      else
        return new Promise<void>((resolve) =>
          keepOpen.addEventListener('abort', () => {
            controller.error(keepOpen.reason);
            resolve();
          }),
        );
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
}

describe("the agent's event stream", () => {
  it('reads events whose CR/LF line ends are split across chunks, and resumes with the last id', async () => {
    const requests: Array<{ url: string; lastEventId: string | null }> = [];
    const fakeFetch: typeof fetch = async (input, init) => {
      const headers = new Headers(init?.headers);
      requests.push({ url: String(input), lastEventId: headers.get('last-event-id') });
      if (requests.length > 1) return streamOf([], init?.signal ?? undefined);
      return streamOf(
        [
          ': heartbeat\r\n\r\nid: 5-0\r',
          '\nevent: token.updated\r\ndata: {"credentialId":\r',
          '\ndata: "cred_aaaaaaaaaa"}\r',
          '\n\r',
          '\nid: 6-0\ndata: {"credentialId":"cred_bbbbbbbbbb"}\n\n',
        ],
        undefined,
      );
    };
    const api = new TokenkeeperApiClient({ baseUrl: 'http://tk.test', apiKey: 'tk_key', fetch: fakeFetch });
    const events: StreamEvent[] = [];
    let connected = 0;
    const stream = new EventStream(
      api,
      ['cred_aaaaaaaaaa', 'cred_bbbbbbbbbb'],
      pino({ level: 'silent' }),
      new SecretRedactor([]),
      (e) => events.push(e),
      () => {
        connected += 1;
      },
    );
    const stop = new AbortController();
    const running = stream.run(stop.signal);
    // The stream ends after the two events; the agent reconnects and sends the last id back.
    await waitFor(() => requests.length >= 2, { timeoutMs: 5000, message: 'reconnection' });
    stop.abort();
    await running;
    expect(events).toEqual([
      { id: '5-0', type: 'token.updated', credentialId: 'cred_aaaaaaaaaa' },
      { id: '6-0', type: 'message', credentialId: 'cred_bbbbbbbbbb' },
    ]);
    expect(connected).toBe(2);
    expect(requests[0]).toEqual({
      url: 'http://tk.test/v1/events/stream?type=token.updated&credentialId=cred_aaaaaaaaaa&credentialId=cred_bbbbbbbbbb',
      lastEventId: null,
    });
    expect(requests[1]?.lastEventId).toBe('6-0');
  });
});
