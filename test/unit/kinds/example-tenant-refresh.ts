// A descriptor file as libs/refresh/src/kinds/catalog/ would hold it (imports as in
// example-password-grant.ts), with a rotation default and own settings of its own.
import { InvalidCredentialInputError } from '../../../libs/refresh/src/errors.js';
import { claimText, secret } from '../../../libs/refresh/src/kinds/fields.js';
import { oauthKind } from '../../../libs/refresh/src/kinds/oauth-kind.js';

/**
 * A refresh token of a multi-tenant provider that rotates it (so strict by default): the tenant
 * decides where the token goes and is bound; the login hint only pre-fills the provider's login
 * page and is not.
 */
export default oauthKind({
  kind: 'example.tenant_refresh',
  order: 15,
  grant: (g) => ({
    grantType: 'refresh_token',
    async params(request, context) {
      const { tenant, loginHint } = request.grant.params ?? {};
      if (!tenant) throw new g.GrantConfigurationError('tenant refresh settings are missing');
      const sent = await g.REFRESH_TOKEN_GRANT.params!(request, context);
      return { ...sent, tenant, ...(loginHint ? { login_hint: loginHint } : {}) };
    },
  }),
  fields: {
    refreshToken: secret('refreshToken').optional(),
    tenant: claimText,
    loginHint: claimText.optional(),
  },
  secrets: ['refreshToken', 'clientSecret', 'privateKey'],
  unboundFields: ['loginHint'],
  rotation: 'strict',
  settings(settings, input, current) {
    const tenant = input.tenant ?? current?.params?.tenant;
    if (!tenant) throw new InvalidCredentialInputError('tenant', 'example.tenant_refresh needs tenant');
    const loginHint = input.loginHint ?? current?.params?.loginHint;
    return { ...settings, params: { tenant, ...(loginHint ? { loginHint } : {}) } };
  },
  checkSecrets(_grant, secrets) {
    if (!secrets.refreshToken)
      throw new InvalidCredentialInputError('refreshToken', 'example.tenant_refresh needs refreshToken');
  },
  flags: [
    { flag: '--refresh-token <token>', field: 'refreshToken', help: 'refresh token', secret: true },
    { flag: '--tenant <id>', field: 'tenant', help: 'tenant the token is for' },
    { flag: '--login-hint <hint>', field: 'loginHint', help: 'login hint' },
  ],
  reauth: '--refresh-token @<file>',
});
