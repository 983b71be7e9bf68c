import type { FastifyReply } from 'fastify';
import type { ServedToken } from '#refresh';

/** The JSON a token read answers with; the warning also goes into a header for clients that only look there. */
export function tokenBody(reply: FastifyReply, t: ServedToken) {
  void reply.header('cache-control', 'no-store');
  if (t.warning) void reply.header('tokenkeeper-warning', t.warning);
  return {
    accessToken: t.accessToken,
    tokenType: t.tokenType,
    tokenVersion: t.tokenVersion,
    expiresAt: new Date(t.expiresAt).toISOString(),
    expiresIn: Math.max(0, Math.floor((t.expiresAt - Date.now()) / 1000)),
    ...(t.scope ? { scope: t.scope } : {}),
    ...(t.warning ? { warning: t.warning } : {}),
  };
}
