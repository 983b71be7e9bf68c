import { describe, expect, it } from 'vitest';
import { type SseMessage, SseParser } from './sse-parser.js';

function parse(chunks: string[], lastEventId?: string) {
  const messages: SseMessage[] = [];
  const retries: number[] = [];
  const parser = new SseParser(
    { onMessage: (m) => messages.push(m), onRetry: (ms) => retries.push(ms) },
    lastEventId,
  );
  for (const c of chunks) parser.push(c);
  return { messages, retries };
}

describe('SseParser', () => {
  it('parses events, ids, multi-line data and ignores comments', () => {
    const { messages } = parse([
      ': heartbeat\n\nid: 1-0\nevent: token.updated\ndata: {"a":1}\n\n',
      'data: line one\ndata:line two\n\n',
    ]);
    expect(messages).toEqual([
      { event: 'token.updated', data: '{"a":1}', lastEventId: '1-0' },
      { event: 'message', data: 'line one\nline two', lastEventId: '1-0' },
    ]);
  });

  it('handles chunks split anywhere and every line ending, CRLF split across chunks included', () => {
    const text = 'id: 7\r\nevent: x\r\ndata: 1\r\n\r\nid: 8\rdata: 2\r\rid: 9\ndata: 3\n\n';
    const whole = parse([text]).messages;
    expect(whole.map((m) => [m.lastEventId, m.data])).toEqual([
      ['7', '1'],
      ['8', '2'],
      ['9', '3'],
    ]);
    for (let size = 1; size < 6; size++) {
      const chunks: string[] = [];
      for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
      expect(parse(chunks).messages).toEqual(whole);
    }
    expect(parse(['data: a\r', '\n', '\r', '\n']).messages).toEqual([
      { event: 'message', data: 'a', lastEventId: '' },
    ]);
  });

  it('keeps the id across events, reads retry, and dispatches nothing without data', () => {
    const { messages, retries } = parse(
      ['retry: 2500\nid: 3\n\nevent: lonely\n\ndata: x\n\nretry: soon\n\n'],
      '2',
    );
    expect(retries).toEqual([2500]);
    expect(messages).toEqual([{ event: 'message', data: 'x', lastEventId: '3' }]);
  });

  it('does not dispatch an event that was not terminated by an empty line', () => {
    expect(parse(['data: partial\n']).messages).toEqual([]);
  });
});
