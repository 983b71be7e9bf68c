import { z } from 'zod';
import { CLIENT_AUTH_METHODS, type GrantSettings, SIGNING_ALGS } from '#core';
import type { CredentialSecrets, GrantClient, OAuthGrant, OAuthGrantClient } from '#grants';
import { InvalidCredentialInputError } from '../errors.js';
import { secret, suppliedTokenFields, suppliedTokenFlags, url } from './fields.js';
import type { GrantInput, GrantSettingsContext } from './grant-input.js';
import { checkSigningKey } from './grant-input.js';
import {
  type CliFlag,
  defineKind,
  type GrantClientDeps,
  type KindDescriptor,
  type SecretField,
} from './kind-descriptor.js';
import { type Grants, grants, lazyClient } from './lazy-grants.js';

/** Fields of every kind that calls an OAuth token endpoint. */
const oauthFields = {
  tokenEndpoint: url.optional(),
  issuer: url.optional(),
  clientId: z.string().min(1).max(512).optional(),
  clientAuth: z.enum(CLIENT_AUTH_METHODS).optional(),
  /** `alg` of the private_key_jwt client assertion (and of a jwt-bearer assertion). */
  signingAlg: z.enum(SIGNING_ALGS).optional(),
  scope: z.string().max(2048).optional(),
  audience: z.string().max(2048).optional(),
  resource: url.optional(),
  clientSecret: secret('clientSecret').optional(),
  privateKey: secret('privateKey').optional(),
  ...suppliedTokenFields,
};

const oauthFlags: readonly CliFlag[] = [
  { flag: '--token-endpoint <url>', field: 'tokenEndpoint', help: 'token endpoint URL' },
  { flag: '--issuer <url>', field: 'issuer', help: 'issuer URL (token endpoint found by discovery)' },
  { flag: '--client-id <id>', field: 'clientId', help: 'OAuth client id' },
  {
    flag: '--client-auth <method>',
    field: 'clientAuth',
    help: 'none | client_secret_basic | client_secret_post | ...',
  },
  { flag: '--client-secret <secret>', field: 'clientSecret', help: 'client secret', secret: true },
  { flag: '--scope <scope>', field: 'scope', help: 'scope to request' },
  { flag: '--audience <aud>', field: 'audience', help: 'audience to request' },
  { flag: '--resource <url>', field: 'resource', help: 'resource indicator' },
  ...suppliedTokenFlags,
];

/**
 * The OAuth client of each set of deps: the registry gives every kind the same deps, so one client
 * (one clock, outbound fetch and token sources) serves them all.
 */
const sharedClients = new WeakMap<GrantClientDeps, OAuthGrantClient>();

/** A kind's grant client: the shared OAuth client performing the kind's grant. */
const oauthClient =
  (grant: (g: Grants) => OAuthGrant) =>
  (deps: GrantClientDeps): GrantClient =>
    lazyClient((g) => {
      let client = sharedClients.get(deps);
      if (!client) {
        client = new g.OAuthGrantClient(deps);
        sharedClients.set(deps, client);
      }
      return client.forGrant(grant(g));
    });

/**
 * The API input of an OAuth kind: the fields every kind may take and the kind's own (the API
 * parsed the body with the kind's schema; a PATCH may leave any out).
 */
type KindInput<F extends z.ZodRawShape> = GrantInput & Partial<z.output<z.ZodObject<F>>>;
type InputField<F extends z.ZodRawShape> = keyof GrantInput | (keyof F & string);

/**
 * An OAuth kind: the shared token endpoint and client settings plus what the kind adds. `settings`
 * runs after the shared settings, on their result; `checkSecrets` before the shared checks.
 */
export function oauthKind<const K extends string, F extends z.ZodRawShape>(d: {
  kind: K;
  order: number;
  /**
   * The grant it performs at the token endpoint (grant_type and the parameters it sends), from
   * the grant library once loaded: one of its grants (`g.REFRESH_TOKEN_GRANT`, ...) or a new one
   * built with its helpers (`g.signedAssertion`, the context's `readSourceToken`).
   */
  grant: (g: Grants) => OAuthGrant;
  fields: F;
  secrets?: readonly SecretField[];
  /** Input fields, shared or the kind's own, left out of the destination (see KindDescriptor). */
  unboundFields?: readonly InputField<F>[];
  /** Input fields, shared or the kind's own, naming a token file. */
  fileSourceFields?: readonly InputField<F>[];
  rotation?: KindDescriptor['rotation'];
  /** The client must authenticate (no `none`), so it needs a clientId. */
  confidential?: boolean;
  settings?: (
    settings: GrantSettings,
    input: KindInput<F>,
    current: GrantSettings | undefined,
  ) => GrantSettings;
  /** Checks that come before the shared ones. */
  checkSecrets?: (grant: GrantSettings, secrets: CredentialSecrets) => void;
  /** The kind signs an assertion with the private key besides any client assertion. */
  signsAssertion?: boolean;
  flags?: readonly CliFlag[];
  reauth: string;
}) {
  // At load, so the registry names the descriptor's file (rather than the first refresh failing).
  if (typeof d.grant !== 'function') throw new Error(`${d.kind}: oauthKind needs the \`grant\` it performs`);
  return defineKind({
    kind: d.kind,
    order: d.order,
    fields: { ...oauthFields, ...d.fields },
    unboundFields: ['scope', ...((d.unboundFields ?? []) as (keyof GrantInput)[])],
    ...(d.fileSourceFields ? { fileSourceFields: d.fileSourceFields as (keyof GrantInput)[] } : {}),
    secrets: d.secrets ?? ['clientSecret', 'privateKey'],
    rotation: d.rotation ?? 'none',
    grantClient: oauthClient(d.grant),
    issuerIsUrl: true,
    async settings(input, current, ctx) {
      const shared = await oauthSettings(d.kind, d.confidential ?? false, input, current, ctx);
      return d.settings ? d.settings(shared, input as KindInput<F>, current) : shared;
    },
    async checkSecrets(grant, secrets) {
      d.checkSecrets?.(grant, secrets);
      const { requiresClientSecret } = await grants();
      if (requiresClientSecret(grant.clientAuth) && !secrets.clientSecret) {
        throw new InvalidCredentialInputError(
          'clientSecret',
          `clientAuth ${grant.clientAuth} needs clientSecret`,
        );
      }
      if (grant.clientAuth === 'private_key_jwt')
        await checkSigningKey(d.kind, secrets.privateKey, grant.clientAssertionAlg);
      if (d.signsAssertion) await checkSigningKey(d.kind, secrets.privateKey, grant.assertion?.alg);
    },
    cli: { flags: [...oauthFlags, ...(d.flags ?? [])], reauth: d.reauth },
  });
}

async function oauthSettings(
  kind: string,
  confidential: boolean,
  input: GrantInput,
  current: GrantSettings | undefined,
  ctx: GrantSettingsContext,
): Promise<GrantSettings> {
  const issuer = input.issuer ?? current?.issuer;
  let tokenEndpoint = input.tokenEndpoint ?? (input.issuer ? undefined : current?.tokenEndpoint);
  if (!tokenEndpoint && issuer) {
    const { discoverTokenEndpoint } = await grants();
    try {
      tokenEndpoint = await discoverTokenEndpoint(issuer, ctx.grantTimeoutMs, ctx.fetch);
    } catch (err) {
      throw new InvalidCredentialInputError('issuer', (err as Error).message);
    }
  }
  if (!tokenEndpoint)
    throw new InvalidCredentialInputError('tokenEndpoint', 'give tokenEndpoint, or issuer to discover it');
  const clientId = input.clientId ?? current?.clientId;
  const clientAuth = input.clientAuth ?? current?.clientAuth ?? (clientId ? 'client_secret_basic' : 'none');
  if ((confidential || clientAuth === 'private_key_jwt') && !clientId) {
    throw new InvalidCredentialInputError('clientId', `${kind} with clientAuth ${clientAuth} needs clientId`);
  }
  if (Array.isArray(input.audience)) {
    throw new InvalidCredentialInputError('audience', 'the OAuth audience parameter takes one value');
  }
  const scope = input.scope ?? current?.scope;
  const audience = input.audience ?? current?.audience;
  const resource = input.resource ?? current?.resource;
  const clientAssertionAlg =
    clientAuth === 'private_key_jwt' ? (input.signingAlg ?? current?.clientAssertionAlg) : undefined;
  return {
    tokenEndpoint,
    clientAuth,
    ...(issuer ? { issuer } : {}),
    ...(clientId ? { clientId } : {}),
    ...(clientAssertionAlg ? { clientAssertionAlg } : {}),
    ...(scope ? { scope } : {}),
    ...(audience ? { audience } : {}),
    ...(resource ? { resource } : {}),
  };
}
