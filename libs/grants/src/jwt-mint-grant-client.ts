import {
  type GrantClient,
  GrantConfigurationError,
  type GrantRequest,
  type GrantResult,
} from './grant-client.js';
import { signJwt } from './jwt-template.js';
import { importSigningKey } from './signing-key.js';

/** `jwt.mint`: signs a fresh JWT from the stored key and the claims template. No server is called. */
export class JwtMintGrantClient implements GrantClient {
  constructor(private readonly now: () => number = Date.now) {}

  async execute(request: GrantRequest): Promise<GrantResult> {
    const template = request.grant.mint;
    if (!template) throw new GrantConfigurationError('jwt.mint credential has no JWT template');
    if (!request.secrets.privateKey)
      throw new GrantConfigurationError('jwt.mint credential has no privateKey');
    const key = await importSigningKey(request.secrets.privateKey, template.alg);
    const signed = await signJwt(template, key, this.now());
    // Lifetime counts from `iat` (whole seconds), which is when the token really starts to age;
    // nothing is sent anywhere, so the token is "sent" when it is signed.
    return {
      accessToken: signed.jwt,
      tokenType: 'Bearer',
      expiresInSeconds: signed.expiresInSeconds,
      receivedAt: signed.issuedAt,
      sentAt: signed.issuedAt,
    };
  }
}
