import { abortableSleep } from '#client';
import type { ApiClient } from './api-client.js';
import { CliError } from './cli-error.js';
import { formatExpiry } from './format.js';

/** An event as the API shows it. */
export interface EventView {
  id?: string;
  cursor?: string;
  type: string;
  credentialId: string;
  revision: number;
  at: string;
  namespace?: string;
  data?: Record<string, unknown>;
}

interface Page {
  items: EventView[];
  nextCursor?: string;
}

export interface TailOptions {
  credentialId?: string;
  /** Only these event types (filtered by the server's global feed, and here for the fallback). */
  type?: string;
  after?: string;
  follow: boolean;
  intervalMs: number;
  pageSize: number;
  signal: AbortSignal;
}

/**
 * Reads events by polling: the global feed `GET /v1/events?after=` (filtered by credential when
 * one is given). When the server has no global feed yet and a credential is given, it falls back
 * to that credential's history `GET /v1/credentials/:id/events?after=<revision>`.
 * Yields each event once; with `follow`, keeps polling every `intervalMs` until aborted.
 */
export async function* tailEvents(client: ApiClient, o: TailOptions): AsyncGenerator<EventView> {
  let useHistory = false;
  let after = o.after;
  const seen = new Set<string>();
  for (;;) {
    if (o.signal.aborted) return;
    let page: Page;
    try {
      page = useHistory
        ? await historyPage(client, o.credentialId!, after, o.pageSize, o.signal)
        : await client.get<Page>(
            '/v1/events',
            { after, credentialId: o.credentialId, type: o.type, limit: o.pageSize },
            'read events (scope events:read)',
          );
    } catch (err) {
      if (o.signal.aborted) return;
      // NOT_FOUND (not CREDENTIAL_NOT_FOUND): the server has no such route.
      const routeMissing = err instanceof CliError && err.is('NOT_FOUND');
      if (routeMissing && !useHistory) {
        if (!o.credentialId) {
          throw new CliError('this API server has no global event feed (GET /v1/events)', err.exitCode, {
            hint: 'give --credential <id> to read one credential’s history, or upgrade the server',
          });
        }
        useHistory = true;
        continue;
      }
      throw err;
    }
    for (const e of page.items) {
      const key = `${e.credentialId}:${e.revision}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (seen.size > 10_000) seen.delete(seen.values().next().value as string);
      if (o.type && e.type !== o.type) continue;
      yield e;
    }
    const last = page.items.at(-1);
    const next = page.nextCursor ?? (useHistory ? last && String(last.revision) : (last?.cursor ?? last?.id));
    const advanced = next !== undefined && next !== after;
    if (next !== undefined) after = next;
    if (page.items.length > 0 && advanced) continue;
    if (!o.follow) return;
    await abortableSleep(o.intervalMs, o.signal);
  }
}

function historyPage(
  client: ApiClient,
  id: string,
  after: string | undefined,
  limit: number,
  signal: AbortSignal,
) {
  return client
    .request<Page>('GET', `/v1/credentials/${encodeURIComponent(id)}/events`, {
      query: { after, limit },
      what: 'read events (scope events:read)',
      signal: AbortSignal.any([signal, AbortSignal.timeout(60_000)]),
    })
    .then((r) => r.body);
}

/** One line per event: time, credential, type and the facts that matter for the type. */
export function formatEvent(e: EventView, now: number): string {
  const d = e.data ?? {};
  const facts: string[] = [];
  if (d.tokenVersion !== undefined) facts.push(`v${d.tokenVersion}`);
  if (typeof d.expiresAt === 'string') {
    const expiry = formatExpiry(d.expiresAt, now);
    facts.push(expiry.startsWith('in ') ? `expires ${expiry}` : expiry);
  }
  if (d.class !== undefined) facts.push(String(d.class));
  if (d.code !== undefined) facts.push(String(d.code));
  if (d.attempt !== undefined) facts.push(`attempt ${d.attempt}`);
  if (typeof d.message === 'string') facts.push(JSON.stringify(d.message.slice(0, 120)));
  return [e.at, e.credentialId, e.type, ...facts].join('  ');
}
