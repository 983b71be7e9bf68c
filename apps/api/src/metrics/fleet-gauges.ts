import { CREDENTIAL_STATES, type CredentialProjection } from '#core';

/** What the credentials gauges show: counts by state and the soonest expiry among active tokens. */
export interface FleetSnapshot {
  byState: Record<string, number>;
  /** Epoch ms of the soonest `expiresAt` among active credentials; undefined when there are none. */
  soonestExpiry?: number;
}

/** One scan's result: the whole fleet, and the same figures per namespace. */
export interface ScopedSnapshots {
  fleet: FleetSnapshot;
  byNamespace: Map<string, FleetSnapshot>;
}

function add(snapshot: FleetSnapshot, p: CredentialProjection): void {
  snapshot.byState[p.state] = (snapshot.byState[p.state] ?? 0) + 1;
  if (p.state === 'active' && p.token) {
    const at = p.token.expiresAt;
    if (snapshot.soonestExpiry === undefined || at < snapshot.soonestExpiry) snapshot.soonestExpiry = at;
  }
}

/** Folds one page into the fleet snapshot and into its namespace's (pure: testable without Redis). */
export function addToScoped(scoped: ScopedSnapshots, page: (CredentialProjection | undefined)[]): void {
  for (const p of page) {
    if (!p) continue;
    add(scoped.fleet, p);
    const own = scoped.byNamespace.get(p.namespace) ?? emptySnapshot();
    scoped.byNamespace.set(p.namespace, own);
    add(own, p);
  }
}

export function emptySnapshot(): FleetSnapshot {
  return { byState: Object.fromEntries(CREDENTIAL_STATES.map((s) => [s, 0])) };
}

export function emptyScoped(): ScopedSnapshots {
  return { fleet: emptySnapshot(), byNamespace: new Map() };
}

export const CREDENTIALS_GAUGE = {
  name: 'tokenkeeper.credentials',
  description: 'Credentials by state (from a scan of the index, at most every 15 s)',
};
export const SOONEST_EXPIRY_GAUGE = {
  name: 'tokenkeeper.token.soonest_expiry',
  description: 'Seconds until the soonest expiry among active credentials (negative: already expired)',
};

const promName = (name: string) => name.replaceAll('.', '_');
const escapeLabel = (v: string) => v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');

/**
 * Prometheus text of one namespace's figures: its credentials by state and its soonest expiry,
 * with the same names as the fleet gauges plus a `namespace` label. Nothing about other namespaces
 * or the shared queues.
 */
export function renderNamespaceMetrics(namespace: string, snapshot: FleetSnapshot, now: number): string {
  const ns = `namespace="${escapeLabel(namespace)}"`;
  const credentials = promName(CREDENTIALS_GAUGE.name);
  const lines = [
    `# HELP ${credentials} ${CREDENTIALS_GAUGE.description}`,
    `# TYPE ${credentials} gauge`,
    ...Object.entries(snapshot.byState).map(
      ([state, n]) => `${credentials}{${ns},state="${escapeLabel(state)}"} ${n}`,
    ),
  ];
  if (snapshot.soonestExpiry !== undefined) {
    const soonest = promName(SOONEST_EXPIRY_GAUGE.name);
    lines.push(
      `# HELP ${soonest} ${SOONEST_EXPIRY_GAUGE.description}`,
      `# TYPE ${soonest} gauge`,
      `${soonest}{${ns}} ${(snapshot.soonestExpiry - now) / 1000}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
