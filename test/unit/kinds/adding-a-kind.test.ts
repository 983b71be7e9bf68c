import { HttpException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cliFlagsOf, KIND_DESCRIPTORS } from '#kinds';
import { GrantClientRegistry } from '#refresh';
import { credentialSchemasOf } from '../../../apps/api/src/credentials/credential.schemas.js';
import { ZodValidationPipe } from '../../../apps/api/src/http/zod-validation.pipe.js';
import example, { calls } from './example-app-installation.js';

/** The kinds as the registry would list them with the new descriptor file added. */
const kinds = [...KIND_DESCRIPTORS, example] as const;
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
