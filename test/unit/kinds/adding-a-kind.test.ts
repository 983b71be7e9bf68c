import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { HttpException } from '@nestjs/common';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLogger, KeyRing } from '#common';
import { DEFAULT_BACKOFF, DEFAULT_REFRESH_POLICY } from '#core';
import type { GrantClient } from '#grants';
import {
  CATALOG_DIR,
  CREDENTIAL_KINDS,
  cliFlagsOf,
  KIND_DESCRIPTORS,
  type KindDescriptor,
  KindSet,
  loadKinds,
  resolveRotation,
  SECRET_FIELDS,
} from '#kinds';
import {
  CredentialCipher,
  CredentialService,
  describeDestination,
  GrantClientRegistry,
  InvalidCredentialInputError,
  RefreshService,
  type RegisterCredentialInput,
  type UpdateCredentialInput,
} from '#refresh';
import { credentialSchemasOf } from '../../../apps/api/src/credentials/credential.schemas.js';
import { credentialView } from '../../../apps/api/src/credentials/credential-view.js';
import { problemFor } from '../../../apps/api/src/http/problem.js';
import { ZodValidationPipe } from '../../../apps/api/src/http/zod-validation.pipe.js';
import {
  InMemoryCredentials,
  RecordingScheduler,
} from '../../../libs/refresh/src/testing/in-memory-credentials.js';
import { ManualClock } from '../../../libs/refresh/src/testing/manual-clock.js';
import { registrationJob } from '../../../libs/refresh/src/testing/registered-event.js';
import { startCapturingTokenEndpoint } from '../../support/capturing-token-endpoint.js';
import { calls } from './example-app-installation.js';

const EXAMPLE_FILE = fileURLToPath(new URL('./example-app-installation.ts', import.meta.url));
const PASSWORD_GRANT_FILE = fileURLToPath(new URL('./example-password-grant.ts', import.meta.url));
const TENANT_REFRESH_FILE = fileURLToPath(new URL('./example-tenant-refresh.ts', import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A catalog directory holding the shipped descriptor files and `extra` (name -> file to link, or source text). */
function catalogWith(extra: Record<string, { link: string } | { text: string }>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tk-kinds-'));
  dirs.push(dir);
  for (const name of readdirSync(CATALOG_DIR)) symlinkSync(join(CATALOG_DIR, name), join(dir, name));
  for (const [name, file] of Object.entries(extra)) {
    if ('link' in file) symlinkSync(file.link, join(dir, name));
    else writeFileSync(join(dir, name), file.text);
  }
  return dir;
}

/**
 * The real credential and refresh services over a catalog's kinds, in memory, with a real cipher;
 * `grants` may wrap the grant client the refresh service calls.
 */
function servicesOver(descriptors: KindDescriptor[], grants = (client: GrantClient) => client) {
  const kindSet = new KindSet(descriptors);
  const clock = new ManualClock();
  const store = new InMemoryCredentials(clock);
  const scheduler = new RecordingScheduler();
  const cipher = new CredentialCipher(KeyRing.parse(`k1:${randomBytes(32).toString('base64url')}`));
  const credentials = new CredentialService(store, cipher, scheduler, {
    policy: DEFAULT_REFRESH_POLICY,
    grantTimeoutMs: 1_000,
    now: () => clock.now(),
    kinds: kindSet,
  });
  const refresher = new RefreshService(
    store,
    store,
    cipher,
    grants(GrantClientRegistry.standard({}, descriptors)),
    scheduler,
    {
      policy: DEFAULT_REFRESH_POLICY,
      backoff: DEFAULT_BACKOFF,
      grantTimeoutMs: 2_000,
      leaseTtlMs: 30_000,
      workerId: 'test:1',
      clock,
      kinds: kindSet,
    },
  );
  return { clock, store, cipher, credentials, refresher };
}

/** The kinds as the registry loads them with the new descriptor file added to its catalog. */
const kinds = await loadKinds(catalogWith({ 'github-app-installation.ts': { link: EXAMPLE_FILE } }));
const example = kinds.find((d) => d.kind === 'github.app_installation')!;
const { register, update } = credentialSchemasOf(kinds);

const body = {
  kind: 'github.app_installation',
  tokenEndpoint: 'https://api.github.example/app/installations/42/access_tokens',
  assertionIssuer: '1234',
  privateKey: '-----BEGIN PRIVATE KEY-----',
};

/** The 400 problem the API answers for a body. */
function problemOf(value: unknown): { errors: { field: string; message: string }[] } {
  try {
    new ZodValidationPipe(register, 'body').transform(value);
  } catch (err) {
    expect(err).toBeInstanceOf(HttpException);
    expect((err as HttpException).getStatus()).toBe(400);
    return (err as HttpException).getResponse() as { errors: { field: string; message: string }[] };
  }
  throw new Error('the body was accepted');
}

describe('adding a kind is its descriptor file', () => {
  it('the catalog loads it, after the shipped kinds (by its order), which keep theirs', () => {
    expect(kinds.map((d) => d.kind)).toEqual([...CREDENTIAL_KINDS, 'github.app_installation']);
    expect(CREDENTIAL_KINDS).toEqual([
      'oauth2.refresh_token',
      'oauth2.client_credentials',
      'oauth2.jwt_bearer',
      'oauth2.token_exchange',
      'jwt.mint',
      'vault.jwt_login',
      'static',
    ]);
    expect(KIND_DESCRIPTORS.map((d) => d.kind)).not.toContain('github.app_installation');
  });

  it('the registration schema takes the new kind and its fields', () => {
    expect(register.parse(body)).toMatchObject({ kind: 'github.app_installation', assertionIssuer: '1234' });
    // Every existing kind still validates as before.
    expect(register.parse({ kind: 'static', accessToken: 't', expiresIn: 60 }).kind).toBe('static');
  });

  it('a field the new kind does not take is a 400 naming the field', () => {
    const unknown = problemOf({ ...body, refreshToken: 'rt' });
    expect(unknown.errors[0]!.message).toContain('refreshToken');
    const missing = problemOf({ ...body, assertionIssuer: undefined });
    expect(missing.errors[0]!.field).toBe('assertionIssuer');
  });

  it('a PATCH may set the new kind’s fields', () => {
    expect(update.parse({ assertionIssuer: '99' })).toEqual({ assertionIssuer: '99' });
  });

  it('the OpenAPI schema of the registration body lists the new kind', () => {
    const doc = JSON.stringify(z.toJSONSchema(register, { io: 'input', unrepresentable: 'any' }));
    expect(doc).toContain('"github.app_installation"');
    expect(doc).toContain('"assertionIssuer"');
  });

  it('the CLI offers its flag', () => {
    expect(cliFlagsOf(kinds).map((f) => f.flag)).toContain('--app-id <id>');
    expect(cliFlagsOf().map((f) => f.flag)).not.toContain('--app-id <id>');
  });

  it('the grant client registry hands its refreshes to its client', async () => {
    const registry = GrantClientRegistry.standard({}, kinds);
    const grant = await example.settings(body, undefined, { grantTimeoutMs: 1000 });
    const result = await registry.execute({
      kind: 'github.app_installation',
      credentialId: 'cred_example0001',
      namespace: 'default',
      grant,
      secrets: { privateKey: body.privateKey },
      timeoutMs: 1000,
    });
    expect(result.accessToken).toBe('ghs_example');
    expect(calls).toEqual([{ kind: 'github.app_installation', tokenEndpoint: body.tokenEndpoint }]);
  });
});

describe('adding an OAuth grant type is its descriptor file', async () => {
  const withPassword = await loadKinds(catalogWith({ 'oauth2-password.ts': { link: PASSWORD_GRANT_FILE } }));
  const password = withPassword.find((d) => d.kind === 'oauth2.password')!;
  const kindSet = new KindSet(withPassword);
  const schemas = credentialSchemasOf(withPassword);
  const PASSWORD = 'correct horse battery';
  const registration = {
    kind: 'oauth2.password',
    tokenEndpoint: 'https://idp.example/token',
    clientId: 'app',
    clientSecret: 'appsecret',
    username: 'alice',
    password: PASSWORD,
  };

  const services = () => servicesOver(withPassword);

  it('the catalog, the registration and PATCH schemas and the CLI take it', () => {
    expect(withPassword.map((d) => d.kind)).toEqual([
      'oauth2.refresh_token',
      'oauth2.client_credentials',
      'oauth2.jwt_bearer',
      'oauth2.token_exchange',
      'oauth2.password',
      'jwt.mint',
      'vault.jwt_login',
      'static',
    ]);
    expect(schemas.register.parse(registration)).toMatchObject({
      kind: 'oauth2.password',
      username: 'alice',
      password: PASSWORD,
    });
    expect(schemas.update.parse({ username: 'bob', password: 'p2' })).toEqual({
      username: 'bob',
      password: 'p2',
    });
    const doc = JSON.stringify(z.toJSONSchema(schemas.register, { io: 'input', unrepresentable: 'any' }));
    expect(doc).toContain('"oauth2.password"');
    const flags = cliFlagsOf(withPassword);
    expect(flags.map((f) => f.flag)).toEqual(
      expect.arrayContaining(['--username <name>', '--password <password>']),
    );
    // Its password is read like every secret flag (a value, `@file` or `-` for stdin).
    expect(flags.find((f) => f.field === 'password')?.secret).toBe(true);
    // It shares the OAuth kinds' fields and flags.
    expect(flags.map((f) => f.flag)).toContain('--client-secret <secret>');
  });

  it('its password is a secret field: never a grant setting, bounded like every secret', () => {
    expect(kindSet.secretFields).toEqual(['refreshToken', 'clientSecret', 'privateKey', 'password']);
    expect(kindSet.grantInputFields).toContain('username');
    expect(kindSet.grantInputFields).not.toContain('password');
    expect(kindSet.boundInputFields).not.toContain('password');
    expect(SECRET_FIELDS).toEqual(['refreshToken', 'clientSecret', 'privateKey']);
    expect(() => schemas.register.parse({ ...registration, password: 'x'.repeat(16_385) })).toThrow(
      /password is longer than 16 KiB/,
    );
  });

  it('is the descriptor docs/adding-a-kind.md shows as the whole diff', () => {
    const doc = readFileSync(
      fileURLToPath(new URL('../../../docs/adding-a-kind.md', import.meta.url)),
      'utf8',
    );
    const diff = doc.split('## A new OAuth grant type')[1]!.split('```diff')[1]!.split('```')[0]!;
    const added = diff
      .split('\n')
      .filter((line) => line.startsWith('+') && !line.startsWith('+++'))
      .map((line) => line.slice(1))
      .join('\n');
    const descriptor = (text: string) => text.slice(text.indexOf('export default oauthKind(')).trim();
    expect(descriptor(added)).toBe(descriptor(readFileSync(PASSWORD_GRANT_FILE, 'utf8')));
  });

  it('a registration without its fields names the field', async () => {
    const { username: _, ...withoutUsername } = registration;
    expect(() => schemas.register.parse(withoutUsername)).toThrow(/username/);
    await expect(
      password.settings({ tokenEndpoint: registration.tokenEndpoint }, undefined, { grantTimeoutMs: 1000 }),
    ).rejects.toMatchObject({ field: 'username' });
    const { password: __, ...withoutPassword } = registration;
    const { credentials } = services();
    await expect(
      credentials.register({ namespace: 'default', ...withoutPassword } as RegisterCredentialInput),
    ).rejects.toMatchObject({ field: 'password' });
  });

  it('registered through the credential service, the password is only in the encrypted secrets', async () => {
    const { store, cipher, credentials } = services();
    const p = await credentials.register({
      namespace: 'default',
      ...registration,
    } as RegisterCredentialInput);
    const stored = await store.get(p.id);
    expect(stored?.secrets).toBeDefined();
    expect(stored!.secrets).not.toContain(PASSWORD);
    expect(await cipher.decryptSecrets(p.id, stored!.secrets)).toMatchObject({
      clientSecret: 'appsecret',
      password: PASSWORD,
    });
    expect(p.grant.params).toEqual({ username: 'alice' });
    for (const shown of [p, stored!.projection, store.events(p.id), credentialView(p)])
      expect(JSON.stringify(shown)).not.toContain(PASSWORD);
    // A PATCH of the password names it as a changed secret, never its value.
    await credentials.update('default', p.id, { password: 'new horse' } as UpdateCredentialInput);
    expect(store.events(p.id).at(-1)).toMatchObject({
      type: 'credential.updated',
      data: { secretsChanged: ['password'] },
    });
    expect(JSON.stringify(store.events(p.id))).not.toContain('new horse');
    expect((await cipher.decryptSecrets(p.id, (await store.get(p.id))!.secrets)).password).toBe('new horse');
  });

  it('a refresh sends grant_type=password with username, the stored password and client authentication', async () => {
    const server = await startCapturingTokenEndpoint({
      access_token: 'at-password',
      token_type: 'Bearer',
      expires_in: 600,
    });
    try {
      const { clock, store, credentials, refresher } = services();
      const p = await credentials.register({
        namespace: 'default',
        ...registration,
        tokenEndpoint: server.url,
        scope: 'profile',
      } as RegisterCredentialInput);
      await refresher.run(registrationJob(p.id, clock.now()));
      expect(server.received).toEqual([
        {
          body: 'scope=profile&username=alice&password=correct+horse+battery&grant_type=password',
          authorization: `Basic ${Buffer.from('app:appsecret').toString('base64')}`,
          contentType: 'application/x-www-form-urlencoded;charset=UTF-8',
        },
      ]);
      const after = await store.getProjection(p.id);
      expect(after?.state).toBe('active');
      expect(after?.token?.tokenVersion).toBe(1);
      expect(JSON.stringify([after, store.events(p.id)])).not.toContain(PASSWORD);
    } finally {
      await server.close();
    }
  });

  it('a PATCH that moves the token endpoint without the password is a 422 naming password', async () => {
    const { store, cipher, credentials } = services();
    const p = await credentials.register({
      namespace: 'default',
      ...registration,
    } as RegisterCredentialInput);
    const moved = 'https://elsewhere.example/token';
    const err = await credentials
      .update('default', p.id, { tokenEndpoint: moved, clientSecret: 'appsecret' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidCredentialInputError);
    const refused = err as InvalidCredentialInputError;
    expect(refused.code).toBe('INVALID_CREDENTIAL_INPUT');
    expect(problemFor('INVALID_CREDENTIAL_INPUT', refused.problemFields())).toMatchObject({
      status: 422,
      errors: [{ field: 'password' }],
    });
    expect(refused.message).toContain('tokenEndpoint changes where');
    expect(store.events(p.id)).toHaveLength(1);
    // With it, the secrets are bound to the new endpoint.
    const next = await credentials.update('default', p.id, {
      tokenEndpoint: moved,
      clientSecret: 'appsecret',
      password: PASSWORD,
    } as UpdateCredentialInput);
    expect(next.grant.tokenEndpoint).toBe(moved);
    expect(await cipher.decryptSecrets(p.id, (await store.get(p.id))!.secrets)).toMatchObject({
      password: PASSWORD,
      destination: describeDestination(next.kind, next.grant),
    });
  });
});

describe('a kind’s own rotation default and unbound settings hold in its own catalog', async () => {
  const descriptors = await loadKinds(
    catalogWith({
      'oauth2-password.ts': { link: PASSWORD_GRANT_FILE },
      'example-tenant-refresh.ts': { link: TENANT_REFRESH_FILE },
    }),
  );
  const kindSet = new KindSet(descriptors);
  const REFRESH_TOKEN = 'rt-tenant-1';
  const registration = {
    namespace: 'default',
    kind: 'example.tenant_refresh',
    clientId: 'app',
    clientSecret: 'appsecret',
    refreshToken: REFRESH_TOKEN,
    tenant: 'acme',
  };

  /** The services over this catalog, keeping the attempt record each grant request found stored. */
  function recordingServices() {
    const seen: unknown[] = [];
    const s = servicesOver(descriptors, (client) => ({
      execute: (request) => {
        seen.push(request.credentialId && s.store.attemptOf(request.credentialId));
        return client.execute(request);
      },
    }));
    return { ...s, seen };
  }

  it('a refresh resolves the kind’s `rotation: strict`: the attempt is recorded before the request is sent', async () => {
    expect(kindSet.resolveRotation('example.tenant_refresh', undefined)).toMatchObject({ mode: 'strict' });
    // The catalog's kinds know nothing of it: a kind they do not hold consumes nothing.
    expect(resolveRotation('example.tenant_refresh', undefined)).toMatchObject({ mode: 'none' });
    const server = await startCapturingTokenEndpoint({
      access_token: 'at-tenant',
      token_type: 'Bearer',
      expires_in: 600,
    });
    try {
      const { clock, store, credentials, refresher, seen } = recordingServices();
      const p = await credentials.register({
        ...registration,
        tokenEndpoint: server.url,
      } as RegisterCredentialInput);
      const outcome = await refresher.run(registrationJob(p.id, clock.now()));
      expect(outcome.type).toBe('refreshed');
      expect(seen).toEqual([expect.objectContaining({ tokenVersion: 0, worker: 'test:1' })]);
      expect(server.received[0]!.body).toContain('grant_type=refresh_token');
      // The outcome stored, the record is cleared.
      expect(store.attemptOf(p.id)).toBeUndefined();
      // A kind of the same catalog whose rotation is `none` sends without a record.
      const password = await credentials.register({
        namespace: 'default',
        kind: 'oauth2.password',
        tokenEndpoint: server.url,
        clientId: 'app',
        clientSecret: 'appsecret',
        username: 'alice',
        password: 'pw',
      } as RegisterCredentialInput);
      expect((await refresher.run(registrationJob(password.id, clock.now()))).type).toBe('refreshed');
      expect(seen).toHaveLength(2);
      expect(seen[1]).toBeUndefined();
    } finally {
      await server.close();
    }
  });

  it('a PATCH of an unbound own setting needs no secrets; a bound one is a 422 naming the secret', async () => {
    const server = await startCapturingTokenEndpoint({
      access_token: 'at-tenant',
      token_type: 'Bearer',
      expires_in: 600,
    });
    try {
      const { clock, store, cipher, credentials, refresher } = recordingServices();
      const p = await credentials.register({
        ...registration,
        tokenEndpoint: server.url,
      } as RegisterCredentialInput);
      const hinted = await credentials.update('default', p.id, {
        loginHint: 'alice@acme.example',
      } as UpdateCredentialInput);
      expect(hinted.grant.params).toEqual({ tenant: 'acme', loginHint: 'alice@acme.example' });
      const secrets = await cipher.decryptSecrets(p.id, (await store.get(p.id))!.secrets);
      expect(secrets).toMatchObject({ refreshToken: REFRESH_TOKEN, clientSecret: 'appsecret' });
      expect(secrets.destination).toBe(describeDestination(p.kind, p.grant, kindSet));
      expect(secrets.destination).toBe(describeDestination(hinted.kind, hinted.grant, kindSet));
      // Over the catalog's kinds (which do not hold it) every own setting would count as bound.
      expect(describeDestination(hinted.kind, hinted.grant)).not.toBe(secrets.destination);
      // The refresh service checks the destination over the same kinds: the refresh goes out.
      expect((await refresher.run(registrationJob(p.id, clock.now()))).type).toBe('refreshed');
      expect(server.received[0]!.body).toContain('tenant=acme&login_hint=alice%40acme.example');

      const err = await credentials
        .update('default', p.id, { tenant: 'other' } as UpdateCredentialInput)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidCredentialInputError);
      const refused = err as InvalidCredentialInputError;
      expect(problemFor('INVALID_CREDENTIAL_INPUT', refused.problemFields())).toMatchObject({
        status: 422,
        errors: [{ field: 'refreshToken' }],
      });
      expect(refused.message).toContain('tenant changes where');
      const moved = await credentials.update('default', p.id, {
        tenant: 'other',
        refreshToken: REFRESH_TOKEN,
        clientSecret: 'appsecret',
      } as UpdateCredentialInput);
      expect(moved.grant.params).toEqual({ tenant: 'other', loginHint: 'alice@acme.example' });
    } finally {
      await server.close();
    }
  });
});

describe('the kind catalog', () => {
  it('a file that is not a descriptor fails the start naming the file', async () => {
    const dir = catalogWith({ 'helpers.ts': { text: 'export const answer = 42;\n' } });
    await expect(loadKinds(dir)).rejects.toThrow(
      `${join(dir, 'helpers.ts')}: no default export of a kind descriptor`,
    );
    const noOrder = catalogWith({
      'partial.ts': { text: "export default { kind: 'x.partial', fields: {} };\n" },
    });
    await expect(loadKinds(noOrder)).rejects.toThrow(
      `${join(noOrder, 'partial.ts')}: the descriptor has no \`order\` number`,
    );
  });

  it('a file that imports the catalog’s own loader, or does not load, fails naming the file', async () => {
    const loop = catalogWith({ 'loop.ts': { text: "export { defineKind as default } from '#kinds';\n" } });
    await expect(loadKinds(loop)).rejects.toThrow(
      `${join(loop, 'loop.ts')}: imports #kinds, which loads the catalog`,
    );
    const broken = catalogWith({ 'broken.ts': { text: "import './missing-helper.js';\n" } });
    await expect(loadKinds(broken)).rejects.toThrow(`${join(broken, 'broken.ts')}: `);
  });

  it('an OAuth kind that names no grant fails naming the file', async () => {
    const oauthKind = pathToFileURL(join(CATALOG_DIR, '..', 'oauth-kind.ts')).href;
    const dir = catalogWith({
      'no-grant.ts': {
        text: `import { oauthKind } from '${oauthKind}';\nexport default oauthKind({ kind: 'oauth2.none', order: 5, fields: {}, reauth: '' });\n`,
      },
    });
    await expect(loadKinds(dir)).rejects.toThrow(
      `${join(dir, 'no-grant.ts')}: oauth2.none: oauthKind needs the \`grant\` it performs`,
    );
  });

  it('a kind’s own secret must be declared with secret() and be no other kind’s setting', async () => {
    const fields = pathToFileURL(join(CATALOG_DIR, '..', 'fields.ts')).href;
    const kindWith = (shape: string, secrets: string[]) => ({
      text: `import { claims, secret } from '${fields}';\nexport default { kind: 'x.own', order: 5, fields: ${shape}, secrets: ${JSON.stringify(secrets)}, rotation: 'none', settings: async () => ({}), checkSecrets: async () => {}, cli: { flags: [], reauth: '' } };\n`,
    });
    const refused = async (shape: string, secrets: string[]) => {
      const dir = catalogWith({ 'own.ts': kindWith(shape, secrets) });
      return loadKinds(dir).then(
        () => '',
        (err: Error) => err.message.replace(`${join(dir, 'own.ts')}: `, ''),
      );
    };
    expect(await refused('{}', ['pin'])).toContain(
      "secret pin is not declared in `fields` (declare it with secret('pin'))",
    );
    expect(await refused('{ pin: claims }', ['pin'])).toContain(
      "secret pin must be a bounded string: declare it with secret('pin')",
    );
    expect(await refused("{ destination: secret('destination') }", ['destination'])).toContain(
      'secret destination is not a name a secret may have',
    );
    expect(await refused("{ role: secret('role') }", ['role'])).toContain(
      'secret role is a setting of vault.jwt_login (vault-jwt-login.ts)',
    );
    expect(await refused("{ pin: secret('pin') }", ['pin'])).toBe('');
  });

  it('a kind’s own secret is redacted from logs, also by a logger made before the catalog loaded', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const early = createLogger('early', 'info', stream);
    const fields = pathToFileURL(join(CATALOG_DIR, '..', 'fields.ts')).href;
    await loadKinds(
      catalogWith({
        'passcode.ts': {
          text: `import { secret } from '${fields}';\nexport default { kind: 'x.passcode', order: 5, fields: { passcode: secret('passcode') }, secrets: ['passcode'], rotation: 'none', settings: async () => ({}), checkSecrets: async () => {}, cli: { flags: [], reauth: '' } };\n`,
        },
      }),
    );
    const late = createLogger('late', 'info', stream);
    for (const logger of [early, late]) {
      logger.info({ passcode: 'pc-top-1234' }, 'top');
      logger.info({ body: { passcode: 'pc-nested-1234', username: 'alice' } }, 'nested');
      logger.info({ req: { body: { passcode: 'pc-deeper-1234' } } }, 'two levels down');
    }
    const out = lines.join('');
    expect(out).not.toContain('pc-');
    expect(out.match(/\[redacted\]/g)).toHaveLength(6);
    expect(out).toContain('"username":"alice"');
  });

  it('a kind defined twice fails naming both files', async () => {
    const dir = catalogWith({ 'static-again.ts': { link: join(CATALOG_DIR, 'static.ts') } });
    await expect(loadKinds(dir)).rejects.toThrow(
      /static(-again)?\.ts: kind static is already defined by static(-again)?\.ts/,
    );
  });

  it('orders equal orders by kind name, and skips declaration and test files', async () => {
    const text = (kind: string) =>
      `export default { kind: '${kind}', order: 5, fields: {}, secrets: [], rotation: 'none', settings: async () => ({}), checkSecrets: async () => {}, cli: { flags: [], reauth: '' } };\n`;
    const dir = mkdtempSync(join(tmpdir(), 'tk-kinds-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'b.ts'), text('b.kind'));
    writeFileSync(join(dir, 'a.ts'), text('c.kind'));
    writeFileSync(join(dir, 'c.ts'), text('a.kind'));
    writeFileSync(join(dir, 'types.d.ts'), 'export {};\n');
    writeFileSync(join(dir, 'a.test.ts'), 'throw new Error("not loaded");\n');
    expect((await loadKinds(dir)).map((d) => d.kind)).toEqual(['a.kind', 'b.kind', 'c.kind']);
  });
});
