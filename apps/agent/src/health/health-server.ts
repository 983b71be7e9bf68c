import { createServer, type Server } from 'node:http';
import { classifyAddress } from '#common';
import type { AgentHealth } from '../agent.js';

/** Who gets the detail of `/ready`: callers on loopback (default), everyone, or nobody. */
export type HealthDetail = 'loopback' | 'all' | 'none';

/**
 * Whether a caller at `remoteAddress` sees the detail of `/ready` (credential versions, sink names
 * and failures, last errors). The health port has no authentication, so by default only a caller
 * on this host does; a probe from elsewhere gets the status, which is all it needs.
 */
export function showsHealthDetail(remoteAddress: string | undefined, detail: HealthDetail): boolean {
  if (detail === 'all') return true;
  if (detail === 'none' || !remoteAddress) return false;
  return classifyAddress(remoteAddress) === 'loopback';
}

/**
 * `/live` (the process runs) and `/ready` (every credential has a token that has not expired and
 * every sink delivered at least once). The body names versions and sinks, never a token.
 */
export async function startHealthServer(
  host: string,
  port: number,
  health: () => AgentHealth,
  detail: HealthDetail = 'loopback',
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
      const status = h.ready ? 'ready' : 'not ready';
      return send(
        h.ready ? 200 : 503,
        showsHealthDetail(req.socket.remoteAddress, detail) ? { status, ...h } : { status, ready: h.ready },
      );
    }
    send(404, { status: 'not found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
