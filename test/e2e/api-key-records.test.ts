import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedApiKey, Page } from '../support/api-types.js';
import { apiClient, runToExit, TEST_ADMIN_KEY, TEST_SECURITY_ENV } from '../support/processes.js';
import { uniquePrefix } from '../support/redis-server.js';
import { type Stack, startStack } from '../support/stack.js';

const sha256 = (key: string) => createHash('sha256').update(key).digest('hex');
const forged = (label: string) => `tk_${label.padEnd(43, 'x')}`;

/**
 * Someone who can write Redis but not the api's server key: API-key records are found under an
 * HMAC lookup id and carry a MAC, so a hand-written admin record and an edited record are refused;
 * records of releases before the HMAC are refused until the operator converts them
 * (TK_MIGRATE_API_KEYS=1), and every boot says how many are waiting. Also: /docs needs a key.
 */
describe('API-key records a Redis writer cannot forge', () => {
  let stack: Stack;
  let raw: Redis;
  const prefix = uniquePrefix('apikeys');
  const record = (id: string) => `${prefix}:{g}:apikey:${id}`;
  const index = `${prefix}:{g}:apikeys`;
  const env = { TK_API_KEY_CACHE_MS: '0' };
  const as = (key: string) => stack.client({ authorization: `Bearer ${key}` });

  // A key of the release before the HMAC: record under its plain SHA-256, listed in the index.
  const legacyKey = forged('legacy-key-of-team-legacy');
  const legacyRecord = {
    id: 'key_legacy000001',
    name: 'pre-upgrade',
    namespace: 'team-legacy',
    scopes: ['credentials:read'],
    keyHash: sha256(legacyKey),
    createdAt: 1_700_000_000_000,
  };
  // What an attacker writes: an admin record of the operator namespace for a key of their own.
  const attackerKey = forged('attacker-chosen-admin-key');
  const attackerRecord = {
    id: 'key_attacker0001',
    name: 'x',
    namespace: 'default',
    scopes: ['admin'],
    keyHash: sha256(attackerKey),
    createdAt: Date.now(),
  };

  beforeAll(async () => {
    stack = await startStack({
      name: 'apikeys',
      prefix,
      env,
      workers: 0,
      // What the api finds at boot: a legacy record and a forged one.
      beforeStart: async (redis) => {
        raw = new Redis(redis.url);
        await raw.set(record(legacyRecord.keyHash), JSON.stringify(legacyRecord));
        await raw.hset(index, legacyRecord.id, legacyRecord.keyHash);
        await raw.set(record(attackerRecord.keyHash), JSON.stringify(attackerRecord));
      },
    });
  });

  afterAll(async () => {
    raw?.disconnect();
    await stack?.stop();
  });

  it('refuses a hand-written apikey:<sha256> admin record, and says at boot how many legacy records wait', async () => {
    expect((await as(attackerKey).get('/v1/credentials')).status).toBe(401);
    expect((await as(attackerKey).post('/v1/api-keys', { name: 'y', scopes: ['admin'] })).status).toBe(401);
    // Even in the current format with a made-up MAC.
    await raw.set(
      record(attackerRecord.keyHash),
      JSON.stringify({ v: 2, ...attackerRecord, mac: 'A'.repeat(43) }),
    );
    expect((await as(attackerKey).get('/v1/credentials')).status).toBe(401);
    // The legacy key is refused too, until migrated.
    expect((await as(legacyKey).get('/v1/credentials')).status).toBe(401);
    const warnings = stack.api
      .logs()
      .split('\n')
      .filter((l) => l.includes('legacy API key records'));
    expect(warnings, stack.api.logs().slice(-2000)).toHaveLength(1);
    const warning = warnings[0]!;
    expect(JSON.parse(warning).count).toBe(1);
    expect(warning).toContain('TK_MIGRATE_API_KEYS=1');
  });

  it('stores new keys under an HMAC id, and refuses a record whose scopes or namespace were edited', async () => {
    const admin = stack.admin;
    const made = await admin.post<CreatedApiKey>('/v1/api-keys', {
      name: 'reader',
      namespace: 'team-a',
      scopes: ['credentials:read'],
    });
    expect(made.status).toBe(201);
    const reader = as(made.body.key);
    expect((await reader.get('/v1/credentials')).status).toBe(200);
    expect((await reader.post('/v1/api-keys', { name: 'z', scopes: ['admin'] })).status).toBe(403);

    const lookupId = await raw.hget(index, made.body.id);
    expect(lookupId).toMatch(/^[0-9a-f]{64}$/);
    expect(lookupId).not.toBe(sha256(made.body.key));
    expect(await raw.exists(record(sha256(made.body.key)))).toBe(0);
    const stored = JSON.parse((await raw.get(record(lookupId!)))!) as Record<string, unknown>;
    expect(stored.mac).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(stored)).not.toContain(made.body.key);

    for (const edit of [
      { scopes: ['admin'] },
      { namespace: 'default' },
      { scopes: ['credentials:read', 'token:read'] },
    ]) {
      await raw.set(record(lookupId!), JSON.stringify({ ...stored, ...edit }));
      expect((await reader.get('/v1/credentials')).status, JSON.stringify(edit)).toBe(401);
    }
    // The edited record is not listed either; the authentic one comes back into use unchanged.
    const listed = await admin.get<Page<CreatedApiKey>>('/v1/api-keys');
    expect(listed.body.items.map((k) => k.id)).not.toContain(made.body.id);
    await raw.set(record(lookupId!), JSON.stringify(stored));
    expect((await reader.get('/v1/credentials')).status).toBe(200);

    // A revocation cannot be undone by deleting its date from the record.
    expect((await admin.delete(`/v1/api-keys/${made.body.id}`)).status).toBe(204);
    expect((await reader.get('/v1/credentials')).status).toBe(401);
    const revoked = JSON.parse((await raw.get(record(lookupId!)))!) as Record<string, unknown>;
    expect(revoked.revokedAt).toBeTypeOf('number');
    const { revokedAt: _dropped, ...unrevoked } = revoked;
    await raw.set(record(lookupId!), JSON.stringify(unrevoked));
    expect((await reader.get('/v1/credentials')).status).toBe(401);
  });

  it('converts legacy records once under TK_MIGRATE_API_KEYS=1; hand-written ones outside the index stay refused', async () => {
    await stack.api.stop();
    const migrating = await stack.start('api', { TK_MIGRATE_API_KEYS: '1' }, 'api-migrating');
    try {
      const legacy = apiClient(migrating.url!, { authorization: `Bearer ${legacyKey}` });
      expect((await legacy.get('/v1/credentials')).status).toBe(200);
      // With exactly the scopes and namespace it had.
      expect((await legacy.post('/v1/api-keys', { name: 'w', scopes: ['admin'] })).status).toBe(403);
      const attacker = apiClient(migrating.url!, { authorization: `Bearer ${attackerKey}` });
      expect((await attacker.get('/v1/credentials')).status).toBe(401);
      expect(await raw.exists(record(legacyRecord.keyHash))).toBe(0);
      const converted = await raw.hget(index, legacyRecord.id);
      expect(converted).not.toBe(legacyRecord.keyHash);
      expect(migrating.logs()).toMatch(/converted legacy API key records/);
    } finally {
      await migrating.stop();
    }
    // A normal start afterwards: nothing legacy left to warn about, and the converted key works.
    await stack.api.start();
    expect((await as(legacyKey).get('/v1/credentials')).status).toBe(200);
    const since = stack.api.logs().lastIndexOf('api listening');
    expect(stack.api.logs().slice(since)).not.toContain('legacy API key records');
  });

  it('serves /docs and /docs-json to callers with an API key only, unless TK_PUBLIC_DOCS=1', async () => {
    const base = stack.url;
    for (const path of ['/docs', '/docs/', '/docs-json', '/%64ocs-json', '/docs-yaml']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('www-authenticate'), path).toMatch(/^Basic /);
      expect(await res.text(), path).not.toContain('/v1/credentials');
    }
    const made = await stack.admin.post<CreatedApiKey>('/v1/api-keys', {
      name: 'docs-reader',
      namespace: 'team-docs',
      scopes: ['events:read'],
    });
    const bearer = await fetch(`${base}/docs-json`, {
      headers: { authorization: `Bearer ${made.body.key}` },
    });
    expect(bearer.status).toBe(200);
    expect(await bearer.text()).toContain('/v1/credentials');
    // A browser signs in with any user name and the key as password.
    const basic = `Basic ${Buffer.from(`me:${TEST_ADMIN_KEY}`).toString('base64')}`;
    expect((await fetch(`${base}/docs`, { headers: { authorization: basic } })).status).toBe(200);
    expect(
      (await fetch(`${base}/docs-json`, { headers: { authorization: 'Bearer tk_unknown-key-000000000' } }))
        .status,
    ).toBe(401);

    const open = await stack.start('api', { TK_PUBLIC_DOCS: '1' }, 'api-public-docs');
    try {
      expect((await fetch(`${open.url}/docs-json`)).status).toBe(200);
    } finally {
      await open.stop();
    }
  });

  it('does not start in production without the API-key HMAC key, and says which variable to set', async () => {
    const { TK_API_KEY_HMAC_KEY: _omitted, ...security } = TEST_SECURITY_ENV;
    const { code, output } = await runToExit('api', {
      TK_API_HOST: '127.0.0.1',
      TK_API_PORT: '0',
      ...security,
      ...stack.env,
    });
    expect(code, output).toBe(1);
    expect(output).toMatch(/"level":"fatal".*no API-key HMAC key: set TK_API_KEY_HMAC_KEY_FILE/);
  });
});
