/** One dispatched server-sent event. */
export interface SseMessage {
  /** The `event:` field, `message` when absent. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last event id seen on this stream so far (the resume cursor), `''` if none. */
  lastEventId: string;
}

export interface SseParserHandlers {
  onMessage(message: SseMessage): void;
  /** The server asked for this reconnection delay (`retry:` field). */
  onRetry?(ms: number): void;
}

/**
 * Incremental parser for the `text/event-stream` format (WHATWG HTML, "server-sent events"):
 * feed it decoded text chunks as they arrive, split anywhere. Lines end in CRLF, LF or CR; lines
 * starting with `:` are comments (heartbeats); an empty line dispatches the event being built.
 */
export class SseParser {
  private buffer = '';
  /** The previous chunk ended in CR: an LF starting the next one belongs to the same line end. */
  private skipLeadingLf = false;
  private eventType = '';
  private data: string[] = [];
  private lastEventId: string;

  constructor(
    private readonly handlers: SseParserHandlers,
    lastEventId = '',
  ) {
    this.lastEventId = lastEventId;
  }

  push(chunk: string): void {
    let text = chunk;
    if (this.skipLeadingLf && text.startsWith('\n')) text = text.slice(1);
    this.skipLeadingLf = false;
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(this.buffer.slice(start, i));
      if (c === 13) {
        if (i + 1 < this.buffer.length) {
          if (this.buffer.charCodeAt(i + 1) === 10) i++;
        } else {
          this.skipLeadingLf = true;
        }
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.handlers.onRetry?.(Number(value));
        break;
      default:
      // Unknown fields are ignored, as the format requires.
    }
  }

  private dispatch(): void {
    const data = this.data;
    const event = this.eventType || 'message';
    this.data = [];
    this.eventType = '';
    if (data.length === 0) return;
    this.handlers.onMessage({ event, data: data.join('\n'), lastEventId: this.lastEventId });
  }
}
