import { findKind } from '#kinds';
import { type Column, formatExpiry, formatLabels, formatRelative, renderFields } from './format.js';

/** A credential as `GET /v1/credentials/:id` shows it (fields the CLI reads). */
export interface CredentialView {
  id: string;
  name?: string;
  kind: string;
  namespace?: string;
  labels?: Record<string, string>;
  state: string;
  revision?: number;
  tokenVersion?: number;
  issuedAt?: string;
  expiresAt?: string;
  refreshAt?: string;
  lastRefreshAt?: string;
  failures?: number;
  lastFailure?: {
    at?: string;
    attempt?: number;
    class?: string;
    code?: string;
    message?: string;
    nextAttemptAt?: string;
  };
  grant?: Record<string, unknown>;
  policy?: Record<string, unknown>;
  createdAt?: string;
  updatedAt?: string;
}

export function credentialColumns(now: number): Column<CredentialView>[] {
  return [
    { header: 'id', value: (c) => c.id },
    { header: 'name', value: (c) => c.name ?? '' },
    { header: 'kind', value: (c) => c.kind },
    { header: 'state', value: (c) => displayState(c) },
    { header: 'ver', value: (c) => String(c.tokenVersion ?? 0), right: true },
    { header: 'expires', value: (c) => formatExpiry(c.expiresAt, now) },
    {
      header: 'refresh',
      value: (c) => refreshColumn(c, now),
    },
    { header: 'fails', value: (c) => String(c.failures ?? 0), right: true },
    { header: 'labels', value: (c) => formatLabels(c.labels) },
  ];
}

/** `creds show`: every field a person wants, times with their distance from now. */
export function renderCredential(c: CredentialView, now: number): string {
  const when = (iso: string | undefined) => (iso ? `${iso} (${formatRelative(iso, now)})` : undefined);
  const f = c.lastFailure;
  return renderFields([
    ['id', c.id],
    ['name', c.name],
    ['kind', c.kind],
    ['namespace', c.namespace],
    ['state', c.state],
    ['labels', formatLabels(c.labels)],
    ['token version', c.tokenVersion ?? 0],
    ['expires', c.expiresAt ? `${c.expiresAt} (${formatExpiry(c.expiresAt, now)})` : undefined],
    ['refresh at', when(c.refreshAt)],
    ['last refresh', when(c.lastRefreshAt)],
    ['failures', c.failures ?? 0],
    ['last failure', f ? `${f.class ?? '?'} ${f.code ?? ''} ${f.message ?? ''}`.trim() : undefined],
    ['failed at', f ? when(f.at) : undefined],
    ['next attempt', f ? when(f.nextAttemptAt) : undefined],
    ['token endpoint', c.grant?.tokenEndpoint as string | undefined],
    ['issuer', c.grant?.issuer as string | undefined],
    ['client id', c.grant?.clientId as string | undefined],
    ['client auth', c.grant?.clientAuth as string | undefined],
    ['scope', c.grant?.scope as string | undefined],
    ['policy', c.policy && Object.keys(c.policy).length ? JSON.stringify(c.policy) : undefined],
    ['created', c.createdAt],
    ['updated', c.updatedAt],
  ]);
}

/**
 * The state column: a pending credential whose first refreshes keep failing reads `failing`, so it
 * is told apart from one that simply has not been refreshed yet.
 */
export function displayState(c: CredentialView): string {
  if ((c.state === 'pending' || c.state === 'active') && (c.failures ?? 0) > 0) return `${c.state} (failing)`;
  return c.state;
}

/** When the next refresh happens: the planned time when healthy, the next retry while failing. */
function refreshColumn(c: CredentialView, now: number): string {
  if ((c.failures ?? 0) > 0 && c.lastFailure?.nextAttemptAt)
    return `retry ${formatRelative(c.lastFailure.nextAttemptAt, now, 'due')}`;
  return c.state === 'active' ? formatRelative(c.refreshAt, now, 'due') : '-';
}

/** How a credential of each kind gets new secrets, as `creds update` arguments. */
export function reauthFlags(kind: string): string {
  return findKind(kind)?.cli.reauth ?? '--from-json <file>';
}

/** What to do about a credential's state, if anything. */
export function stateHint(c: CredentialView): string | undefined {
  if (c.state === 'reauth_required') {
    return `needs re-authentication: \`tokenkeeper creds update ${c.id} ${reauthFlags(c.kind)}\``;
  }
  if (c.state === 'expired') return 'its token expired while refreshes keep failing: see `last failure`';
  return undefined;
}
