import { credentialRef, filePath, tokenTypeUri } from '../fields.js';
import { ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, tokenSource } from '../grant-input.js';
import { oauthKind } from '../oauth-kind.js';

/** RFC 8693: exchanges a subject token (another credential's, or a file's) for a new one. */
export default oauthKind({
  kind: 'oauth2.token_exchange',
  order: 40,
  grant: (g) => g.TOKEN_EXCHANGE_GRANT,
  fields: {
    subjectCredentialId: credentialRef.optional(),
    subjectTokenFile: filePath.optional(),
    subjectTokenType: tokenTypeUri.optional(),
    requestedTokenType: tokenTypeUri.optional(),
  },
  unboundFields: ['subjectTokenType', 'requestedTokenType'],
  fileSourceFields: ['subjectTokenFile'],
  settings(settings, input, current) {
    const prev = current?.tokenExchange;
    const subject = tokenSource(
      input.subjectTokenFile,
      input.subjectCredentialId,
      prev?.subject,
      'subjectTokenFile',
      'subjectCredentialId',
    );
    // A credential's token is an access token; a file (spiffe-helper, a projected token) holds a JWT.
    const subjectTokenType =
      input.subjectTokenType ??
      prev?.subjectTokenType ??
      ('file' in subject ? JWT_TOKEN_TYPE : ACCESS_TOKEN_TYPE);
    const requestedTokenType = input.requestedTokenType ?? prev?.requestedTokenType;
    return {
      ...settings,
      tokenExchange: { subject, subjectTokenType, ...(requestedTokenType ? { requestedTokenType } : {}) },
    };
  },
  reauth: '--client-secret @<file> (or --from-json <file> with privateKey for private_key_jwt)',
});
