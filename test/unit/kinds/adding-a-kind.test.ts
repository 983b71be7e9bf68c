import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { HttpException } from '@nestjs/common';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { FileSourcePolicy } from '#common';
import { classifyGrantFailure } from '#core';
import { GrantError } from '#grants';
import {
  CATALOG_DIR,
  CREDENTIAL_KINDS,
  cliFlagsOf,
  type GrantInput,
  KIND_DESCRIPTORS,
  loadKinds,
} from '#kinds';
import { GrantClientRegistry } from '#refresh';
import { credentialSchemasOf } from '../../../apps/api/src/credentials/credential.schemas.js';
import { ZodValidationPipe } from '../../../apps/api/src/http/zod-validation.pipe.js';
import { startCapturingTokenEndpoint } from '../../support/capturing-token-endpoint.js';
import { calls } from './example-app-installation.js';

const EXAMPLE_FILE = fileURLToPath(new URL('./example-app-installation.ts', import.meta.url));
const PASSWORD_GRANT_FILE = fileURLToPath(new URL('./example-password-grant.ts', import.meta.url));
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
  const schemas = credentialSchemasOf(withPassword);
  const secretsDir = mkdtempSync(join(tmpdir(), 'tk-password-'));
  dirs.push(secretsDir);
  const passwordFile = join(secretsDir, 'password');
  writeFileSync(passwordFile, 'correct horse battery\n');
  const registration = {
    kind: 'oauth2.password',
    tokenEndpoint: 'https://idp.example/token',
    clientId: 'app',
    clientSecret: 'appsecret',
    username: 'alice',
    passwordFile,
  };

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
    });
    expect(schemas.update.parse({ username: 'bob' })).toEqual({ username: 'bob' });
    const doc = JSON.stringify(z.toJSONSchema(schemas.register, { io: 'input', unrepresentable: 'any' }));
    expect(doc).toContain('"oauth2.password"');
    const flags = cliFlagsOf(withPassword).map((f) => f.flag);
    expect(flags).toEqual(expect.arrayContaining(['--username <name>', '--password-file <path>']));
    // It shares the OAuth kinds' fields and flags.
    expect(flags).toContain('--client-secret <secret>');
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
  });

  it('a refresh sends grant_type=password with username, password and client authentication', async () => {
    const server = await startCapturingTokenEndpoint({
      access_token: 'at-password',
      token_type: 'Bearer',
      expires_in: 600,
    });
    try {
      const registry = GrantClientRegistry.standard(
        { fileSources: new FileSourcePolicy([secretsDir]) },
        withPassword,
      );
      const input = { ...registration, tokenEndpoint: server.url, scope: 'profile' } as GrantInput;
      const grant = await password.settings(input, undefined, { grantTimeoutMs: 1000 });
      await password.checkSecrets(grant, { clientSecret: 'appsecret' });
      const result = await registry.execute({
        kind: 'oauth2.password',
        credentialId: 'cred_password00001',
        namespace: 'default',
        grant,
        secrets: { clientSecret: 'appsecret' },
        timeoutMs: 2000,
      });
      expect(result).toMatchObject({
        accessToken: 'at-password',
        tokenType: 'bearer',
        expiresInSeconds: 600,
      });
      expect(server.received).toEqual([
        {
          body: 'scope=profile&username=alice&password=correct+horse+battery&grant_type=password',
          authorization: `Basic ${Buffer.from('app:appsecret').toString('base64')}`,
          contentType: 'application/x-www-form-urlencoded;charset=UTF-8',
        },
      ]);

      // The password file is read under the file source policy like any token file.
      const refused = await registry
        .execute({
          kind: 'oauth2.password',
          credentialId: 'cred_password00001',
          namespace: 'default',
          grant: { ...grant, params: { username: 'alice', passwordFile: '/etc/passwd' } },
          secrets: { clientSecret: 'appsecret' },
          timeoutMs: 2000,
        })
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(GrantError);
      expect(classifyGrantFailure((refused as GrantError).failure)).toMatchObject({
        class: 'permanent',
        code: 'FILE_SOURCE_REFUSED',
      });
      expect(server.received).toHaveLength(1);
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
