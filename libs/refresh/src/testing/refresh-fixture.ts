import { type CredentialEvent, DEFAULT_BACKOFF, DEFAULT_REFRESH_POLICY, type RotationSettings } from '#core';
import type { RefreshCipherPort } from '../ports.js';
import { RefreshService } from '../refresh-service.js';
import { TokenService, type TokenServiceOptions } from '../token-service.js';
import { InMemoryCredentials, plainCipher, RecordingScheduler } from './in-memory-credentials.js';
import { ManualClock, settle } from './manual-clock.js';
import { registeredEvent, registrationJob } from './registered-event.js';
import { RotatingProvider, ScriptedGrantClient } from './rotating-provider.js';

export const ID = 'cred_rotation00000000001';
export const LEASE_TTL = 30_000;

export interface RefreshFixtureOptions {
  rotation?: RotationSettings;
  providerGraceSeconds?: number;
  /** The cipher the refresh workers use (default: plainCipher). */
  cipher?: RefreshCipherPort;
}

/**
 * One `oauth2.refresh_token` credential (namespace `default`) in memory, a rotating provider behind a
 * scripted grant client, three refresh workers on a frozen clock, and a token service reading it.
 */
export async function refreshFixture(opts: RefreshFixtureOptions = {}) {
  const clock = new ManualClock();
  const store = new InMemoryCredentials(clock);
  const provider = new RotatingProvider(clock, opts.providerGraceSeconds ?? 0);
  const grants = new ScriptedGrantClient(provider, clock);
  const scheduler = new RecordingScheduler();
  const alerts: string[] = [];
  const worker = (workerId: string) =>
    new RefreshService(store, store, opts.cipher ?? plainCipher, grants, scheduler, {
      policy: DEFAULT_REFRESH_POLICY,
      backoff: DEFAULT_BACKOFF,
      grantTimeoutMs: 10_000,
      leaseTtlMs: LEASE_TTL,
      workerId,
      clock,
      random: () => 0.5,
      onAlert: (msg) => alerts.push(msg),
    });
  const registered = registeredEvent(
    'crm',
    {
      kind: 'oauth2.refresh_token',
      grant: { tokenEndpoint: 'https://idp.example/token', clientId: 'crm', clientAuth: 'none' },
      ...(opts.rotation ? { rotation: opts.rotation } : {}),
    },
    clock.now(),
  );
  await store.append(ID, undefined, [registered], {
    secrets: await plainCipher.encryptSecrets(ID, { refreshToken: provider.current }),
  });
  const job = registrationJob(ID, clock.now());
  const tokens = new TokenService(store, plainCipher, scheduler, { waitMs: 100, now: () => clock.now() });
  /** A token service whose polling waits on the frozen clock too (advance it to let reads progress). */
  const clockedTokens = (options: Partial<TokenServiceOptions> = {}) =>
    new TokenService(store, plainCipher, scheduler, { waitMs: 10_000, pollMs: 100, clock, ...options });
  const types = () => store.events(ID).map(describeEvent);
  const storedRefreshToken = async () =>
    (await plainCipher.decryptSecrets(ID, (await store.get(ID))?.secrets)).refreshToken;
  /** Starts worker `w`'s refresh with the provider holding its answer; resolves once the request is out. */
  const startHeld = async (w: RefreshService) => {
    grants.plan.push('hold');
    const run = w.run(job);
    await settle();
    return { run };
  };
  /** Worker `w` sends a refresh the provider answers with `answer`, then dies: its lease lapses. */
  const sendsAndDies = async (w: RefreshService, answer: 'hang' | 'vanish') => {
    grants.plan.push(answer);
    void w.run(job);
    await settle();
    store.expireLease(ID);
  };
  return {
    clock,
    store,
    provider,
    grants,
    scheduler,
    alerts,
    job,
    tokens,
    clockedTokens,
    types,
    storedRefreshToken,
    startHeld,
    sendsAndDies,
    worker,
    a: worker('host-a:101'),
    b: worker('host-b:202'),
    c: worker('host-c:303'),
  };
}

export function describeEvent(e: CredentialEvent): string {
  if (e.type !== 'refresh.failed') return e.type;
  return `refresh.failed ${e.data.code}${e.data.outcome ? ` (${e.data.outcome})` : ''}`;
}
