import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_REFRESH_POLICY, newEvent } from '#core';
import { RevisionConflictError } from '#store';
import { CredentialService, type RegisterCredentialInput } from './credential-service.js';
import { describeDestination, type StoredSecrets } from './destination-binding.js';
import { CredentialNotFoundError, InvalidCredentialInputError } from './errors.js';
import { InMemoryCredentials, plainCipher, RecordingScheduler } from './testing/in-memory-credentials.js';
import { ManualClock } from './testing/manual-clock.js';
import { registeredEvent } from './testing/registered-event.js';

const NS = 'team-a';
const REFRESH: RegisterCredentialInput = {
  namespace: NS,
  kind: 'oauth2.refresh_token',
  name: 'crm',
  tokenEndpoint: 'https://idp.example/token',
  clientId: 'crm',
  clientSecret: 'secret-1',
  refreshToken: 'rt-1',
};

function setup() {
  const clock = new ManualClock();
  const store = new InMemoryCredentials(clock);
  const scheduler = new RecordingScheduler();
  const service = new CredentialService(store, plainCipher, scheduler, {
    policy: DEFAULT_REFRESH_POLICY,
    grantTimeoutMs: 1_000,
    now: () => clock.now(),
    random: () => 0.5,
    revokedRetentionSeconds: 60,
  });
  const secretsOf = async (id: string) =>
    (await plainCipher.decryptSecrets(id, (await store.get(id))?.secrets)) as StoredSecrets;
  return { clock, store, scheduler, service, secretsOf };
}

/** A static credential holding `accessToken` for an hour. */
function registerStatic(t: ReturnType<typeof setup>, accessToken: string) {
  return t.service.register({ namespace: NS, kind: 'static', accessToken, expiresIn: 3600 });
}

/** What `update` threw, for assertions on its class and field. */
async function refusal(promise: Promise<unknown>): Promise<Error & { field?: string }> {
  return promise.then(
    () => {
      throw new Error('expected the update to be refused');
    },
    (err: Error) => err,
  );
}

/** PATCHes the token endpoint with both secrets and checks they are now bound to the new settings. */
async function expectRebound(
  t: ReturnType<typeof setup>,
  id: string,
  tokenEndpoint: string,
  refreshToken: string,
) {
  const next = await t.service.update(NS, id, { tokenEndpoint, refreshToken, clientSecret: 'secret-1' });
  expect(next.grant.tokenEndpoint).toBe(tokenEndpoint);
  expect(await t.secretsOf(id)).toMatchObject({
    refreshToken,
    destination: describeDestination(next.kind, next.grant),
  });
}

describe('CredentialService.update: PATCH semantics', () => {
  it('patch: a field the kind does not take is refused, naming it; nothing is stored', async () => {
    const t = setup();
    const p = await t.service.register(REFRESH);
    const err = await refusal(t.service.update(NS, p.id, { vaultAddr: 'https://vault.example' }));
    expect(err).toBeInstanceOf(InvalidCredentialInputError);
    expect(err.field).toBe('vaultAddr');
    expect(err.message).toContain('oauth2.refresh_token credentials do not take vaultAddr');
    expect(t.store.events(p.id)).toHaveLength(1);
  });

  it('patch: a Vault login takes no secret, a client-credentials one no kid, and a Vault mount is checked as registered', async () => {
    const t = setup();
    const source = await registerStatic(t, 'tok');
    const vault = await t.service.register({
      namespace: NS,
      kind: 'vault.jwt_login',
      vaultAddr: 'https://vault.example',
      role: 'r',
      jwtCredentialId: source.id,
      canReadTokens: true,
    });
    const before = (await t.store.get(vault.id))?.secrets;
    expect(
      (await refusal(t.service.update(NS, vault.id, { refreshToken: 'x', canReadTokens: true }))).field,
    ).toBe('refreshToken');
    expect((await refusal(t.service.update(NS, vault.id, { mount: '/other/' }))).field).toBe('mount');
    expect((await t.store.get(vault.id))?.secrets).toBe(before);
    const moved = await t.service.update(NS, vault.id, { mount: 'other', canReadTokens: true });
    expect(moved.grant.vault?.mount).toBe('other');
    const cc = await t.service.register({
      ...REFRESH,
      kind: 'oauth2.client_credentials',
      refreshToken: undefined,
    });
    expect((await refusal(t.service.update(NS, cc.id, { kid: 'k1' }))).field).toBe('kid');
  });

  it('patch: a credential of a kind this server does not know can still be renamed; its kind fields are refused naming them', async () => {
    const t = setup();
    const id = 'cred_legacykind00000001';
    await t.store.append(id, undefined, [
      registeredEvent('legacy', { namespace: NS, kind: 'oauth2.password' }, t.clock.now()),
    ]);
    expect(await t.service.update(NS, id, { name: 'legacy-2', labels: { a: 'b' } })).toMatchObject({
      name: 'legacy-2',
    });
    const err = await refusal(t.service.update(NS, id, { clientId: 'x' }));
    expect(err).toBeInstanceOf(InvalidCredentialInputError);
    expect(err.field).toBe('clientId');
    expect(err.message).toContain('oauth2.password');
  });

  it('patch: a field several kinds take is held to the bounds of this kind (jwt-bearer assertions live at most an hour)', async () => {
    const t = setup();
    const privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const p = await t.service.register({
      namespace: NS,
      kind: 'oauth2.jwt_bearer',
      tokenEndpoint: 'https://idp.example/token',
      clientId: 'svc',
      clientAuth: 'none',
      privateKey,
    });
    const err = await refusal(t.service.update(NS, p.id, { ttlSeconds: 30 * 86_400, privateKey }));
    expect(err.field).toBe('ttlSeconds');
    expect(t.store.events(p.id)).toHaveLength(1);
    // The assertion's lifetime is part of what the key is bound to sign: the key comes again.
    const next = await t.service.update(NS, p.id, { ttlSeconds: 600, privateKey });
    expect(next.grant.assertion?.ttlSeconds).toBe(600);
  });

  it('patch: a rename changes only the name; secrets stay as stored and no refresh is demanded', async () => {
    const t = setup();
    const p = await t.service.register(REFRESH);
    const before = (await t.store.get(p.id))?.secrets;
    // As the API calls it: with what the caller's key may do besides the body.
    const next = await t.service.update(NS, p.id, {
      name: 'crm-prod',
      labels: { env: 'prod' },
      canReadTokens: false,
    });
    expect(next).toMatchObject({ name: 'crm-prod', labels: { env: 'prod' }, revision: 2, grant: p.grant });
    expect((await t.store.get(p.id))?.secrets).toBe(before);
    expect(t.store.events(p.id).at(-1)).toMatchObject({
      type: 'credential.updated',
      data: { secretsChanged: [] },
    });
    expect(t.scheduler.demanded).toEqual([]);
  });

  it('patch: a new secret for the same destination merges with the ones held and needs nothing restated', async () => {
    const t = setup();
    const p = await t.service.register(REFRESH);
    await t.service.update(NS, p.id, { clientSecret: 'secret-2' });
    expect(await t.secretsOf(p.id)).toMatchObject({ refreshToken: 'rt-1', clientSecret: 'secret-2' });
    expect(t.store.events(p.id).at(-1)).toMatchObject({ data: { secretsChanged: ['clientSecret'] } });
  });

  it('patch: a static credential takes an imported token as the next version and schedules its expiry', async () => {
    const t = setup();
    const p = await registerStatic(t, 'tok-1');
    const next = await t.service.update(NS, p.id, { accessToken: 'tok-2', expiresIn: 600 });
    expect(next.token).toMatchObject({ tokenVersion: 2, expiresAt: t.clock.now() + 600_000 });
    expect((await t.store.get(p.id))?.token).toBe('T:tok-2');
    expect(t.scheduler.scheduled.at(-1)?.revision).toBe(next.revision);
  });

  it('patch: accessToken is refused on a refreshing kind, and expiresIn without a token', async () => {
    const t = setup();
    const p = await t.service.register(REFRESH);
    const imported = await refusal(t.service.update(NS, p.id, { accessToken: 'x', expiresIn: 60 }));
    expect(imported).toBeInstanceOf(InvalidCredentialInputError);
    expect(imported.field).toBe('accessToken');
    const bare = await refusal(t.service.update(NS, p.id, { expiresIn: 60 }));
    expect(bare.field).toBe('accessToken');
    expect(t.store.events(p.id)).toHaveLength(1);
  });
});

describe('CredentialService.update: destination binding', () => {
  it('moved fields: a new token endpoint without the secrets held is refused, naming each of them', async () => {
    const t = setup();
    const p = await t.service.register(REFRESH);
    const err = await refusal(
      t.service.update(NS, p.id, { tokenEndpoint: 'https://elsewhere.example/token' }),
    );
    expect(err).toBeInstanceOf(InvalidCredentialInputError);
    expect(err.field).toBe('refreshToken');
    expect(err.message).toContain('tokenEndpoint changes where');
    expect(err.message).toContain('supply refreshToken and clientSecret again');
    // Giving only some of them is not enough either.
    const partial = await refusal(
      t.service.update(NS, p.id, { tokenEndpoint: 'https://elsewhere.example/token', refreshToken: 'rt-1' }),
    );
    expect(partial.field).toBe('clientSecret');
    expect(t.store.events(p.id)).toHaveLength(1);
  });

  it('moved fields: with every secret held given again, the secrets are bound to the new destination', async () => {
    const t = setup();
    const p = await t.service.register(REFRESH);
    await expectRebound(t, p.id, 'https://elsewhere.example/token', 'rt-1');
  });

  it('restate: settings changed behind the API’s back must be restated by the next PATCH that binds secrets', async () => {
    const t = setup();
    const p = await t.service.register(REFRESH);
    // Someone with Redis access points the credential elsewhere; its secrets stay bound to the old place.
    const moved = { ...p.grant, tokenEndpoint: 'https://attacker.example/token' };
    await t.store.append(p.id, p, [
      newEvent('credential.updated', t.clock.now(), { grant: moved, secretsChanged: [] }),
    ]);
    const err = await refusal(t.service.update(NS, p.id, { refreshToken: 'rt-2', clientSecret: 'secret-1' }));
    expect(err.field).toBe('tokenEndpoint');
    expect(err.message).toContain('differ from those this credential');
    // Without the secrets again, the owner is asked for them first.
    expect((await refusal(t.service.update(NS, p.id, { refreshToken: 'rt-2' }))).field).toBe('clientSecret');
    // Restating the (now checked) endpoint binds the secrets to it.
    await expectRebound(t, p.id, 'https://idp.example/token', 'rt-2');
  });

  it('moved fields: an unreadable secrets ciphertext proves nothing: every destination field must be restated', async () => {
    const t = setup();
    const p = await t.service.register(REFRESH);
    const current = await t.store.getProjection(p.id);
    await t.store.append(
      p.id,
      current,
      [newEvent('credential.updated', t.clock.now(), { secretsChanged: [] })],
      { secrets: 'garbage' },
    );
    const err = await refusal(t.service.update(NS, p.id, { clientSecret: 'secret-2' }));
    expect(err.field).toBe('clientAuth');
    expect(err.message).toContain('clientAuth, clientId, tokenEndpoint');
    const next = await t.service.update(NS, p.id, {
      tokenEndpoint: REFRESH.tokenEndpoint!,
      clientAuth: 'client_secret_basic',
      clientId: 'crm',
      clientSecret: 'secret-2',
      refreshToken: 'rt-2',
    });
    expect(await t.secretsOf(p.id)).toMatchObject({
      refreshToken: 'rt-2',
      clientSecret: 'secret-2',
      destination: describeDestination(p.kind, next.grant),
    });
  });
});

describe('CredentialService.update: concurrency and state', () => {
  it('concurrent change: an append that lands between the read and the write makes the PATCH a revision conflict', async () => {
    const t = setup();
    const p = await t.service.register(REFRESH);
    t.store.beforeAppend = async (id) => {
      await t.store.append(id, await t.store.getProjection(id), [
        newEvent('credential.updated', t.clock.now(), { name: 'renamed-meanwhile', secretsChanged: [] }),
      ]);
    };
    await expect(t.service.update(NS, p.id, { name: 'mine' })).rejects.toBeInstanceOf(RevisionConflictError);
    expect(await t.store.getProjection(p.id)).toMatchObject({ name: 'renamed-meanwhile', revision: 2 });
  });

  it('state: reauth_required becomes pending after a fresh refresh token, and a refresh is demanded at once', async () => {
    const t = setup();
    const p = await t.service.register(REFRESH);
    await t.store.append(p.id, p, [
      newEvent('refresh.failed', t.clock.now(), {
        attempt: 1,
        class: 'permanent',
        code: 'INVALID_GRANT',
        message: 'refresh token revoked',
        trigger: 'scheduled',
      }),
      newEvent('credential.reauth_required', t.clock.now(), { code: 'INVALID_GRANT', message: 'revoked' }),
    ]);
    await expect(t.service.requestRefresh(NS, p.id)).rejects.toMatchObject({ field: 'refreshToken' });
    const next = await t.service.update(NS, p.id, { refreshToken: 'rt-fresh' });
    expect(next).toMatchObject({ state: 'pending', failures: 0 });
    expect(next.lastFailure).toBeUndefined();
    expect(t.scheduler.demanded).toEqual([{ p: next, trigger: 'manual' }]);
    expect((await t.secretsOf(p.id)).refreshToken).toBe('rt-fresh');
  });

  it('state: a PATCH without new secrets leaves reauth_required as it is and demands nothing', async () => {
    const t = setup();
    const p = await t.service.register(REFRESH);
    await t.store.append(p.id, p, [
      newEvent('credential.reauth_required', t.clock.now(), { code: 'INVALID_GRANT', message: 'revoked' }),
    ]);
    const next = await t.service.update(NS, p.id, { name: 'still-broken' });
    expect(next.state).toBe('reauth_required');
    expect(t.scheduler.demanded).toEqual([]);
  });
});

describe('CredentialService: namespace visibility', () => {
  it('visibility: another namespace’s credential, or a deleted one, is not found; history stays readable after deletion', async () => {
    const t = setup();
    const p = await t.service.register(REFRESH);
    await expect(t.service.get('team-b', p.id)).rejects.toBeInstanceOf(CredentialNotFoundError);
    await expect(t.service.update('team-b', p.id, { name: 'x' })).rejects.toBeInstanceOf(
      CredentialNotFoundError,
    );
    await expect(t.service.history('team-b', p.id)).rejects.toBeInstanceOf(CredentialNotFoundError);
    await t.service.revoke(NS, p.id);
    expect(t.scheduler.cancelled.map((c) => c.id)).toEqual([p.id]);
    expect(t.store.expiring.get(p.id)).toBe(60);
    await expect(t.service.get(NS, p.id)).rejects.toBeInstanceOf(CredentialNotFoundError);
    await expect(t.service.update(NS, p.id, { name: 'x' })).rejects.toBeInstanceOf(CredentialNotFoundError);
    expect((await t.service.history(NS, p.id)).map((e) => e.type)).toEqual([
      'credential.registered',
      'credential.revoked',
    ]);
  });

  it('visibility: a token source must be a live credential of the same namespace', async () => {
    const t = setup();
    const other = await t.service.register({ ...REFRESH, namespace: 'team-b' });
    const err = await refusal(
      t.service.register({
        namespace: NS,
        kind: 'oauth2.token_exchange',
        tokenEndpoint: 'https://idp.example/token',
        clientId: 'x',
        clientAuth: 'none',
        subjectCredentialId: other.id,
        canReadTokens: true,
      }),
    );
    expect(err.field).toBe('subjectCredentialId');
    expect(err.message).toContain('in this namespace');
  });
});
