import { InvalidCredentialInputError } from '../../errors.js';
import { secret } from '../fields.js';
import { oauthKind } from '../oauth-kind.js';

/** RFC 6749 §6: a refresh token, rotated by most providers (so strict by default). */
export default oauthKind({
  kind: 'oauth2.refresh_token',
  order: 10,
  grant: (g) => g.REFRESH_TOKEN_GRANT,
  fields: { refreshToken: secret('refreshToken').optional() },
  secrets: ['refreshToken', 'clientSecret', 'privateKey'],
  rotation: 'strict',
  checkSecrets(_grant, secrets) {
    if (!secrets.refreshToken)
      throw new InvalidCredentialInputError('refreshToken', 'oauth2.refresh_token needs refreshToken');
  },
  flags: [{ flag: '--refresh-token <token>', field: 'refreshToken', help: 'refresh token', secret: true }],
  reauth: '--refresh-token @<file>',
});
