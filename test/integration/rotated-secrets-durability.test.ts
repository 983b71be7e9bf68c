import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, DEFAULT_REFRESH_POLICY } from '#core';
import { RefreshService, systemClock } from '#refresh';
import { plainCipher, RecordingScheduler } from '../../libs/refresh/src/testing/in-memory-credentials.js';
import { registeredEvent } from '../../libs/refresh/src/testing/registered-event.js';
import { RotatingProvider, ScriptedGrantClient } from '../../libs/refresh/src/testing/rotating-provider.js';
import { useStoreFixture } from '../support/store-fixture.js';
import { waitFor } from '../support/wait.js';

/**
 * A Redis that comes back without the last acknowledged writes (a crash inside the fsync window,
 * a failover to a lagging replica): here, SIGKILL and a restart from a snapshot taken before the
 * refresh. The worker that stored the rotated refresh token still holds it and appends it again.
 */
describe('rotated secrets survive a Redis that restarts without them', () => {
  const db = useStoreFixture('rotdur', { server: { appendonly: false } });

  it('re-appends the rotated refresh token after Redis restarted from an older snapshot', async () => {
    const { server, redis, store, leases } = db;
    const provider = new RotatingProvider(systemClock);
    const alerts: string[] = [];
    const service = new RefreshService(
      store,
      leases,
      plainCipher,
      new ScriptedGrantClient(provider, systemClock),
      new RecordingScheduler(),
      {
        policy: DEFAULT_REFRESH_POLICY,
        backoff: DEFAULT_BACKOFF,
        grantTimeoutMs: 2_000,
        leaseTtlMs: 5_000,
        workerId: 'host-a:1',
        durabilityWindowMs: 1_500,
        onAlert: (msg) => alerts.push(msg),
      },
    );
    const id = 'cred_durable0000000000001';
    const registered = registeredEvent('durable', {
      kind: 'oauth2.refresh_token',
      grant: { tokenEndpoint: 'https://idp.example/token', clientAuth: 'none' },
    });
    await store.append(id, undefined, [registered], {
      secrets: await plainCipher.encryptSecrets(id, { refreshToken: provider.current }),
    });
    await redis.save();
    const out = await service.run({
      credentialId: id,
      tokenVersion: 0,
      attempt: 0,
      trigger: 'registration',
      dueAt: Date.now(),
      demand: false,
    });
    expect(out.type).toBe('refreshed');
    await server.kill();
    await server.restart();
    const secretsNow = async () =>
      (await plainCipher.decryptSecrets(id, (await store.get(id).catch(() => undefined))?.secrets))
        .refreshToken;
    await waitFor(async () => (await redis.ping().catch(() => '')) === 'PONG', {
      timeoutMs: 10_000,
      message: 'reconnected',
    });
    // Redis came back without the refresh.
    expect((await store.getProjection(id))?.token).toBeUndefined();
    await waitFor(async () => (await secretsNow()) === 'rt-1', {
      timeoutMs: 15_000,
      message: 'rotated refresh token appended again',
    });
    expect((await store.getProjection(id))?.token?.tokenVersion).toBe(1);
    expect(service.unconfirmedCount()).toBe(0);
    expect(provider.presented).toHaveLength(1);
    expect(alerts.join()).toContain('appending them again');
  });
});
