import {
  CLIENT_CREDENTIALS_GRANT,
  JWT_BEARER_GRANT,
  type OAuthGrant,
  REFRESH_TOKEN_GRANT,
  TOKEN_EXCHANGE_GRANT,
} from '../../libs/grants/src/oauth-grant-client.js';

/**
 * The grant each shipped OAuth kind names in its catalog file, for tests that use
 * OAuthGrantClient directly (`new OAuthGrantClient({ grants: SHIPPED_OAUTH_GRANTS })`).
 * test/unit/kinds/oauth-grants.test.ts checks that the catalog names the same ones.
 */
export const SHIPPED_OAUTH_GRANTS: Readonly<Record<string, OAuthGrant>> = {
  'oauth2.refresh_token': REFRESH_TOKEN_GRANT,
  'oauth2.client_credentials': CLIENT_CREDENTIALS_GRANT,
  'oauth2.jwt_bearer': JWT_BEARER_GRANT,
  'oauth2.token_exchange': TOKEN_EXCHANGE_GRANT,
};
