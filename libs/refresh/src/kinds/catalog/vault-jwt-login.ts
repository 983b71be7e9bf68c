import { z } from 'zod';
import { InvalidCredentialInputError } from '../../errors.js';
import { credentialRef, filePath, positiveSeconds, url } from '../fields.js';
import { tokenSource } from '../grant-input.js';
import { defineKind } from '../kind-descriptor.js';
import { lazyClient } from '../lazy-grants.js';

/** A Vault (or OpenBao) token from the JWT auth method, renewed until its max TTL, then a new login. */
export default defineKind({
  kind: 'vault.jwt_login',
  order: 60,
  fields: {
    vaultAddr: url,
    mount: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'a Vault auth mount path such as "jwt"')
      .max(256)
      .optional(),
    role: z.string().min(1).max(256),
    jwtFile: filePath.optional(),
    jwtCredentialId: credentialRef.optional(),
    maxTtlSeconds: positiveSeconds(365 * 86_400).optional(),
    vaultNamespace: z.string().min(1).max(256).optional(),
  },
  unboundFields: ['maxTtlSeconds'],
  fileSourceFields: ['jwtFile'],
  secrets: [],
  rotation: 'none',
  grantClient: (deps) => lazyClient((g) => new g.VaultGrantClient(deps)),
  async settings(input, current) {
    const prev = current?.vault;
    const address = input.vaultAddr ?? prev?.address;
    if (!address) throw new InvalidCredentialInputError('vaultAddr', 'vault.jwt_login needs vaultAddr');
    const role = input.role ?? prev?.role;
    if (!role) throw new InvalidCredentialInputError('role', 'vault.jwt_login needs the Vault role');
    const jwt = tokenSource(input.jwtFile, input.jwtCredentialId, prev?.jwt, 'jwtFile', 'jwtCredentialId');
    const maxTtlSeconds = input.maxTtlSeconds ?? prev?.maxTtlSeconds;
    const vaultNamespace = input.vaultNamespace ?? prev?.vaultNamespace;
    return {
      clientAuth: 'none',
      vault: {
        address: address.replace(/\/+$/, ''),
        mount: (input.mount ?? prev?.mount ?? 'jwt').replace(/^\/+|\/+$/g, ''),
        role,
        jwt,
        ...(maxTtlSeconds !== undefined ? { maxTtlSeconds } : {}),
        ...(vaultNamespace ? { vaultNamespace } : {}),
      },
    };
  },
  async checkSecrets() {},
  cli: {
    flags: [],
    reauth: '--field role=<role> (after fixing the Vault role or the JWT source it logs in with)',
  },
});
