// The helpers a file of libs/refresh/src/kinds/catalog/ imports as `../../errors.js`,
// `../fields.js` and `../oauth-kind.js` (never `#kinds`, which loads the catalog).
import { InvalidCredentialInputError } from '../../../libs/refresh/src/errors.js';
import { claimText, filePath } from '../../../libs/refresh/src/kinds/fields.js';
import { oauthKind } from '../../../libs/refresh/src/kinds/oauth-kind.js';

/**
 * An OAuth grant type as a new descriptor file would add it (registered only by the test that
 * proves adding one needs nothing else): RFC 6749 §4.3, the resource owner's username and
 * password. The password is read at each refresh from a file the file source policy allows (a
 * mounted secret), like any token file.
 */
export default oauthKind({
  kind: 'oauth2.password',
  order: 45,
  grant: (g) => ({
    grantType: 'password',
    async params(request, { readSourceToken }) {
      const { username, passwordFile } = request.grant.params ?? {};
      if (!username || !passwordFile)
        throw new g.GrantConfigurationError('password grant settings are missing');
      return { username, password: await readSourceToken({ file: passwordFile }) };
    },
  }),
  fields: { username: claimText, passwordFile: filePath },
  fileSourceFields: ['passwordFile'],
  settings(settings, input, current) {
    const username = input.username ?? current?.params?.username;
    if (!username) throw new InvalidCredentialInputError('username', 'oauth2.password needs username');
    const passwordFile = input.passwordFile ?? current?.params?.passwordFile;
    if (!passwordFile)
      throw new InvalidCredentialInputError('passwordFile', 'oauth2.password needs passwordFile');
    return { ...settings, params: { username, passwordFile } };
  },
  flags: [
    { flag: '--username <name>', field: 'username', help: 'resource owner username' },
    { flag: '--password-file <path>', field: 'passwordFile', help: 'file holding the password' },
  ],
  reauth: '--password-file <path> (after writing the new password to it)',
});
