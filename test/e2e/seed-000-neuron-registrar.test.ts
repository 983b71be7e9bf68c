import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY_REFERENCE, agentDir, createAgentKey, writeAgentConfig } from '../support/agent.js';
import type { CredentialView } from '../support/api-types.js';
import { freePort } from '../support/net.js';
import { leakedSecrets } from '../support/redis-dump.js';
import { type Stack, startStack } from '../support/stack.js';
import { sleep, waitFor } from '../support/wait.js';

interface Registration {
  at: number;
  body: { uid: number; chain: string; netuid: number; type: string; account: string; token: string };
}

const RUN_MS = 42_000;
const OUTAGE_MS = 8000;
const ACCOUNT = '5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty';

/** The business server of seed 000: records every `/sapi/node/neuron/register` call; can go down. */
class BusinessServer {
  readonly registrations: Registration[] = [];
  private server: Server | undefined;
  constructor(readonly port: number) {}

  async up(): Promise<void> {
    const server = createServer((req, res) => {
      let text = '';
      req.on('data', (d) => (text += d));
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/sapi/node/neuron/register')
          return res.writeHead(404).end();
        this.registrations.push({ at: Date.now(), body: JSON.parse(text) });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"code":0}');
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/**
 * Seed 000 (Bittensor neuron): a `jwt.mint` credential (20 s JWTs) and an agent `http` sink
 * re-register the neuron with its business server. Over ~40 s every registration carries a JWT
 * that verifies at the moment it arrives, each arrives before the previous JWT expired, and
 * after the server was down for 8 s across a refresh the registrar catches up.
 */
describe('seed 000: neuron registrar fed by the agent', () => {
  let stack: Stack;
  let business: BusinessServer | undefined;

  beforeAll(async () => {
    stack = await startStack({ name: 'seed000', env: { TK_SWEEP_INTERVAL_MS: '5000' } });
  });

  afterAll(async () => {
    await Promise.all([stack?.stop(), business?.down()]);
  });

  it('registers a fresh, verifiable JWT before each previous one expired, and catches up after an outage', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const reg = await stack.admin.post<CredentialView>('/v1/credentials', {
      kind: 'jwt.mint',
      name: 'neuron-miner-7',
      privateKey: pem,
      signingAlg: 'ES256',
      ttlSeconds: 20,
      issuer: ACCOUNT,
      subject: 'miner-7',
      audience: 'business-server',
      claims: { uid: 7, netuid: 12 },
      // Half the lifetime as buffer: a new JWT every ~10 s, each valid for 20 s.
      policy: { fraction: 0.5, minBufferSeconds: 1 },
    });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);

    business = new BusinessServer(await freePort());
    await business.up();
    const dir = agentDir('seed000');
    const config = writeAgentConfig(dir, {
      api: { url: stack.url, apiKey: API_KEY_REFERENCE, pollIntervalSeconds: 5 },
      // The business server runs on this host: loopback and plain http are allowed explicitly.
      outbound: { allowLoopback: true, allowHttpHosts: ['127.0.0.1'] },
      credentials: [
        {
          id: reg.body.id,
          minTtl: 5,
          sinks: [
            {
              type: 'http',
              url: `http://127.0.0.1:${business.port}/sapi/node/neuron/register`,
              body: {
                uid: 7,
                chain: 'bittensor',
                netuid: 12,
                type: 'miner',
                account: ACCOUNT,
                token: '{{access_token}}',
              },
              timeoutMs: 2000,
              retries: { attempts: 100, baseMs: 200, capMs: 1000 },
            },
          ],
        },
      ],
    });
    const agent = await stack.startAgent(config, await createAgentKey(stack.url));
    const started = Date.now();

    // Second registration, then 4 s later the server goes down for 8 s, across the next refresh.
    // (The pauses are the scenario's timeline: what the registrar sees over it is what is tested.)
    await waitFor(() => business!.registrations.length >= 2, {
      timeoutMs: 25_000,
      message: 'two registrations',
    });
    await sleep(4000);
    await business.down();
    const downAt = Date.now();
    const countAtDown = business.registrations.length;
    await sleep(OUTAGE_MS);
    await business.up();
    const upAt = Date.now();
    await sleep(Math.max(0, RUN_MS - (Date.now() - started)));

    const regs = business.registrations;
    const tokens: Array<{ at: number; exp: number; iat: number }> = [];
    const key = createPublicKey(publicKey.export({ type: 'spki', format: 'pem' }));
    for (const r of regs) {
      expect(r.body).toMatchObject({
        uid: 7,
        chain: 'bittensor',
        netuid: 12,
        type: 'miner',
        account: ACCOUNT,
      });
      // Verifiable by the business server when it arrived: signature, issuer, audience, not expired.
      const { payload } = await jwtVerify(r.body.token, key, {
        issuer: ACCOUNT,
        audience: 'business-server',
        currentDate: new Date(r.at),
      });
      expect(payload).toMatchObject({ sub: 'miner-7', uid: 7, netuid: 12 });
      tokens.push({ at: r.at, exp: payload.exp! * 1000, iat: payload.iat! * 1000 });
    }
    expect(new Set(regs.map((r) => r.body.token)).size).toBe(regs.length); // each JWT registered once
    expect(regs.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < tokens.length; i++) {
      expect(tokens[i]!.iat).toBeGreaterThanOrEqual(tokens[i - 1]!.iat);
      const margin = tokens[i - 1]!.exp - tokens[i]!.at;
      expect(margin, `registration ${i + 1} came after the previous JWT expired`).toBeGreaterThan(0);
    }
    // Nothing arrived while the server was down; a JWT minted during the outage arrived soon after.
    expect(regs.filter((r) => r.at > downAt && r.at < upAt)).toEqual([]);
    const caughtUp = regs[countAtDown];
    expect(caughtUp, 'a registration after the outage').toBeDefined();
    expect(caughtUp!.at - upAt).toBeLessThan(3000);
    expect(tokens[countAtDown]!.iat).toBeGreaterThan(downAt - 1000);
    expect(agent.logs()).toContain('registrar call failed, retrying');

    expect(await agent.stop()).toBe(0);
    expect(
      leakedSecrets(
        agent.logs(),
        regs.map((r) => r.body.token),
      ),
    ).toEqual([]);
  });
});
