import type { CredentialProjection } from './credential.js';
import { type NewEvent, newEvent, type RefreshTrigger } from './events.js';

/**
 * What a refresh job of a `static` credential records instead of a grant. A static token was
 * imported and cannot be renewed, so its "refresh" is a check:
 * - before expiry: a transient `refresh.failed` with code `STATIC_TOKEN_EXPIRING` (the warning
 *   subscribers see ahead of expiry), next check at the refresh time if that is still ahead
 *   (an early on-demand check), else at expiry;
 * - at or after expiry: `refresh.failed` (permanent, `STATIC_TOKEN_EXPIRED`), `credential.expired`
 *   and `credential.reauth_required`, so nothing retries until someone imports a new token.
 * `refresh.failed` is reused rather than a new event type so alerting on failures covers static
 * tokens without subscribers learning a new type.
 */
export function staticTokenCheck(p: CredentialProjection, now: number, trigger: RefreshTrigger): NewEvent[] {
  const attempt = p.failures + 1;
  const token = p.token;
  if (token && now < token.expiresAt) {
    const nextAttemptAt = token.refreshAt > now ? token.refreshAt : token.expiresAt;
    const left = Math.ceil((token.expiresAt - now) / 1000);
    return [
      newEvent('refresh.failed', now, {
        attempt,
        class: 'transient',
        code: 'STATIC_TOKEN_EXPIRING',
        message: `static token cannot be refreshed and expires in ${left} s: PATCH a new accessToken`,
        nextAttemptAt,
        trigger,
      }),
    ];
  }
  const message = token
    ? 'static token expired: PATCH a new accessToken'
    : 'static credential holds no token: PATCH an accessToken';
  const code = token ? 'STATIC_TOKEN_EXPIRED' : 'STATIC_TOKEN_MISSING';
  return [
    newEvent('refresh.failed', now, { attempt, class: 'permanent', code, message, trigger }),
    ...(token && p.state !== 'expired'
      ? [newEvent('credential.expired', now, { expiredAt: token.expiresAt })]
      : []),
    newEvent('credential.reauth_required', now, { code, message }),
  ];
}
