// A throwaway OAuth authorization server for trying tokenkeeper locally (README walk-through).
// It issues client_credentials tokens that live DEMO_TTL seconds (default 60) to client
// `demo` / `demo-secret`. Not for production: keys are generated at start and kept in memory.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.DEMO_PORT ?? 9090);
const ttl = Number(process.env.DEMO_TTL ?? 60);
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'demo',
      client_secret: 'demo-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'api',
    },
  ],
  jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'demo' }] },
  cookies: { keys: [randomBytes(16).toString('hex')] },
  scopes: ['api'],
  ttl: { ClientCredentials: () => ttl },
  features: { devInteractions: { enabled: false }, clientCredentials: { enabled: true } },
});

const server = createServer(provider.callback());
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`demo OAuth provider at ${issuer} (client demo / demo-secret, ${ttl} s tokens)\n`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => server.close(() => process.exit(0)));
