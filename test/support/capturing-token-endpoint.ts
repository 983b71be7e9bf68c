import { createServer } from 'node:http';

/** One token request as the endpoint received it. */
export interface ReceivedTokenRequest {
  /** The form body as sent (parameters in their order). */
  body: string;
  authorization: string | undefined;
  contentType: string | undefined;
}

/**
 * A token endpoint on 127.0.0.1 that keeps every request it receives and answers each with
 * `answer` (200, JSON).
 */
export async function startCapturingTokenEndpoint(answer: Record<string, unknown>): Promise<{
  url: string;
  received: ReceivedTokenRequest[];
  close(): Promise<void>;
}> {
  const received: ReceivedTokenRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        body: Buffer.concat(chunks).toString('utf8'),
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/token`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
