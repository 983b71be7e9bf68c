import { createServer, type Server } from 'node:http';
import type { AgentHealth } from '../agent.js';

/**
 * `/live` (the process runs) and `/ready` (every credential has a token that has not expired and
 * every sink delivered at least once). The body names versions and sinks, never a token.
 */
export async function startHealthServer(
  host: string,
  port: number,
  health: () => AgentHealth,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { status: 'method not allowed' });
    if (path === '/live') return send(200, { status: 'ok' });
    if (path === '/ready') {
      const h = health();
      return send(h.ready ? 200 : 503, { status: h.ready ? 'ready' : 'not ready', ...h });
    }
    send(404, { status: 'not found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
