import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverTokenEndpoint } from './oauth-grant-client.js';

/** A wrong issuer is fixed from the message alone: it names the document URL and what came back. */
describe('discovery errors', () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not here');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('names the URL and the status an issuer answered', async () => {
    await expect(discoverTokenEndpoint(`${base}/realms/wrong`, 2000)).rejects.toThrow(
      `discovery at ${base}/realms/wrong/.well-known/openid-configuration failed: it answered HTTP 404`,
    );
  });

  it('names the URL and the network error when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(discoverTokenEndpoint(`http://127.0.0.1:${port}`, 2000)).rejects.toThrow(
      new RegExp(
        `discovery at http://127\\.0\\.0\\.1:${port}/\\.well-known/openid-configuration failed: ECONNREFUSED`,
      ),
    );
  });
});
