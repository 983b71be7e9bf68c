import { credentialRef, filePath, tokenTypeUri } from './fields.js';
import { tokenSource } from './grant-input.js';
import { oauthKind } from './oauth-kind.js';

export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/** RFC 8693: exchanges a subject token (another credential's, or a file's) for a new one. */
export default oauthKind({
  kind: 'oauth2.token_exchange',
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
