// The helpers a file of libs/refresh/src/kinds/catalog/ imports as `../../errors.js`,
// `../fields.js` and `../oauth-kind.js` (never `#kinds`, which loads the catalog).
import { InvalidCredentialInputError } from '../../../libs/refresh/src/errors.js';
import { claimText, secret } from '../../../libs/refresh/src/kinds/fields.js';
import { oauthKind } from '../../../libs/refresh/src/kinds/oauth-kind.js';

/**
 * An OAuth grant type as a new descriptor file would add it (registered only by the test that
 * proves adding one needs nothing else): RFC 6749 §4.3, the resource owner's username and
 * password. The password is a secret of the kind's own, stored encrypted with the client secret.
 */
export default oauthKind({
  kind: 'oauth2.password',
  order: 45,
  grant: (g) => ({
    grantType: 'password',
    async params({ grant, secrets }) {
      const username = grant.params?.username;
      const password = secrets.password;
      if (!username || typeof password !== 'string')
        throw new g.GrantConfigurationError('password grant settings are missing');
      return { username, password };
    },
  }),
  fields: { username: claimText, password: secret('password') },
  secrets: ['clientSecret', 'privateKey', 'password'],
  settings(settings, input, current) {
    const username = input.username ?? current?.params?.username;
    if (!username) throw new InvalidCredentialInputError('username', 'oauth2.password needs username');
    return { ...settings, params: { username } };
  },
  checkSecrets(_grant, secrets) {
    if (typeof secrets.password !== 'string')
      throw new InvalidCredentialInputError('password', 'oauth2.password needs password');
  },
  flags: [
    { flag: '--username <name>', field: 'username', help: 'resource owner username' },
    { flag: '--password <password>', field: 'password', help: 'resource owner password', secret: true },
  ],
  reauth: '--password <password>',
});
