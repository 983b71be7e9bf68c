import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, DEFAULT_REFRESH_POLICY } from '#core';
import { GrantClientRegistry } from './kinds/grant-client-registry.js';
import { RefreshService } from './refresh-service.js';
import { InMemoryCredentials, plainCipher, RecordingScheduler } from './testing/in-memory-credentials.js';
import { ManualClock } from './testing/manual-clock.js';
import { registeredEvent, registrationJob } from './testing/registered-event.js';

const ID = 'cred_unknownkind0000001';

describe('a stored credential of a kind this process does not know', () => {
  it('is refused by the grant registry (GRANT_MISCONFIGURED), never handled as an imported static token', async () => {
    const clock = new ManualClock();
    const store = new InMemoryCredentials(clock);
    await store.append(ID, undefined, [registeredEvent('legacy', { kind: 'oauth2.password' }, clock.now())], {
      secrets: await plainCipher.encryptSecrets(ID, { clientSecret: 's3cret' }),
    });
    const refresh = new RefreshService(
      store,
      store,
      plainCipher,
      GrantClientRegistry.standard({}),
      new RecordingScheduler(),
      {
        policy: DEFAULT_REFRESH_POLICY,
        backoff: DEFAULT_BACKOFF,
        grantTimeoutMs: 10_000,
        leaseTtlMs: 30_000,
        workerId: 'host-a:1',
        clock,
        random: () => 0.5,
      },
    );
    const job = registrationJob(ID, clock.now());
    await refresh.run(job);
    const failures = store.events(ID).flatMap((e) => (e.type === 'refresh.failed' ? [e.data.code] : []));
    expect(failures).toEqual(['GRANT_MISCONFIGURED']);
    expect((await store.getProjection(ID))?.state).toBe('reauth_required');
  });
});
