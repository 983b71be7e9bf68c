import { createServer, type Server } from 'node:http';

export interface HealthResponse {
  status: number;
  /** A JSON value, or a string sent as is with `contentType`. */
  body: unknown;
  contentType?: string;
}

/** GET (or HEAD) handlers by exact path, e.g. `{ '/health/live': ..., '/health/ready': ... }`. */
export type HealthRoutes = Record<string, () => Promise<HealthResponse> | HealthResponse>;

/**
 * A small plain node:http server for probes on the worker (no public API lives there). Shape:
 * one handler per exact path, GET/HEAD only, JSON unless the handler names another content type
 * (a `/metrics` route can return Prometheus text with `contentType`). A handler that throws
 * answers 503 with the error message.
 */
export async function startHealthServer(host: string, port: number, routes: HealthRoutes): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const send = ({ status, body, contentType }: HealthResponse) => {
      const text = typeof body === 'string' && contentType ? body : JSON.stringify(body);
      res.writeHead(status, {
        'content-type': contentType ?? 'application/json',
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send({ status: 405, body: { status: 'error' } });
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (!route) return send({ status: 404, body: { status: 'error', error: 'not found' } });
    Promise.resolve()
      .then(route)
      .then(send, (err: Error) => send({ status: 503, body: { status: 'error', error: err.message } }));
  });
  // Probes are short requests: don't let an idle keep-alive socket hold the close up.
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
