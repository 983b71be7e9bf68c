/** A minimal server-sent events client for tests: connects with fetch, parses frames, records comments. */

export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

export interface SseConnection {
  readonly status: number;
  readonly headers: Headers;
  /** Every message received so far, in order. */
  readonly messages: SseMessage[];
  /** Comment lines (heartbeats) received so far. */
  readonly comments: string[];
  /** Resolves when the server ends the stream or `close()` was called. */
  readonly ended: Promise<void>;
  /** The id of the last message that had one (what an EventSource would send as Last-Event-ID). */
  lastEventId(): string | undefined;
  close(): void;
}

export async function connectSse(url: string, headers: Record<string, string> = {}): Promise<SseConnection> {
  const abort = new AbortController();
  const res = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: abort.signal,
  });
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  let lastId: string | undefined;
  const ended = (async () => {
    if (!res.body || res.status !== 200) return;
    const decoder = new TextDecoder();
    let buffer = '';
    let current: Partial<SseMessage> & { dataLines: string[] } = { dataLines: [] };
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let newline = buffer.indexOf('\n');
        while (newline >= 0) {
          const line = buffer.slice(0, newline).replace(/\r$/, '');
          buffer = buffer.slice(newline + 1);
          newline = buffer.indexOf('\n');
          if (line === '') {
            if (current.dataLines.length > 0) {
              if (current.id !== undefined) lastId = current.id;
              messages.push({
                ...(current.id !== undefined ? { id: current.id } : {}),
                event: current.event ?? 'message',
                data: current.dataLines.join('\n'),
              });
            }
            current = { dataLines: [] };
          } else if (line.startsWith(':')) {
            comments.push(line.slice(1).trim());
          } else {
            const sep = line.indexOf(':');
            const field = sep < 0 ? line : line.slice(0, sep);
            const value = sep < 0 ? '' : line.slice(sep + 1).replace(/^ /, '');
            if (field === 'data') current.dataLines.push(value);
            else if (field === 'id') current.id = value;
            else if (field === 'event') current.event = value;
          }
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return {
    status: res.status,
    headers: res.headers,
    messages,
    comments,
    ended,
    lastEventId: () => lastId,
    close: () => abort.abort(),
  };
}
