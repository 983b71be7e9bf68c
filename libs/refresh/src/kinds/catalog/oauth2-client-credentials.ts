import { InvalidCredentialInputError } from '../../errors.js';
import { oauthKind } from '../oauth-kind.js';

/** RFC 6749 §4.4: the client's own credentials. */
export default oauthKind({
  kind: 'oauth2.client_credentials',
  order: 20,
  grant: (g) => g.CLIENT_CREDENTIALS_GRANT,
  fields: {},
  confidential: true,
  checkSecrets(grant) {
    if (grant.clientAuth === 'none') {
      throw new InvalidCredentialInputError(
        'clientAuth',
        'oauth2.client_credentials needs a confidential client (client_secret_basic, client_secret_post or private_key_jwt)',
      );
    }
  },
  reauth: '--client-secret @<file> (or --from-json <file> with privateKey for private_key_jwt)',
});
