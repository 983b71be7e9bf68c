import { setTimeout as sleep } from 'node:timers/promises';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';
import { type AppProcess, apiClient, startApp } from '../support/processes.js';
import { type RedisServer, startRedis, uniquePrefix } from '../support/redis-server.js';

export interface SoakOptions {
  credentials: number;
  chaosMs: number;
  settleMs: number;
  workers: number;
  apis: number;
  readers: number;
  accessTokenTtl: number;
  log?: (line: string) => void;
}

export const SHORT: SoakOptions = {
  credentials: 200,
  chaosMs: 90_000,
  settleMs: 60_000,
  workers: 3,
  apis: 2,
  readers: 20,
  accessTokenTtl: 15,
};
export const LONG: SoakOptions = { ...SHORT, credentials: 2_000, chaosMs: 15 * 60_000, settleMs: 120_000 };

export interface SoakReport {
  credentialsLost: number;
  refreshTokensPresentedTwice: number;
  expiredOrInactiveServed: number;
  historiesWithGapsOrDuplicates: number;
  refreshesPerformed: number;
  marginP50Ms: number;
  marginP99Ms: number;
  lateRefreshes: number;
  readerReads: number;
  readerUnavailable: number;
  readerLatencyP99Ms: number;
  /** Provider round trip of a refresh as the worker saw it, and from its answer to the stored event. */
  grantP50Ms: number;
  grantP99Ms: number;
  persistP99Ms: number;
  /** Of the lost credentials, those whose grant was in flight in a worker at the moment it was SIGKILLed. */
  credentialsLostToCrashWindow: number;
  badTokensOfCredentialsLostToCrashWindow: number;
  refreshTokenReusesSeen: number;
  workerKills: number;
  redisKills: number;
  apiRestarts: number;
  providerFaults: number;
}

interface TokenBody {
  accessToken: string;
  tokenVersion: number;
  expiresAt: string;
}
interface EventBody {
  type: string;
  revision: number;
  at: string;
  data: { tokenVersion?: number; expiresAt?: string; trigger?: string };
}

const pct = (sorted: number[], p: number) =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/**
 * The chaos soak: rotating refresh tokens with short access tokens behind a proxy injecting 5xx,
 * hangs and latency; workers SIGKILLed and restarted every 10–20 s, Redis SIGKILLed and restarted
 * once, an api restarted once; readers check every token they get against the provider's
 * introspection. Nothing may be lost, presented twice, or served expired.
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => undefined);
  const redis: RedisServer = await startRedis({ appendonly: true });
  const oauth: OAuthServer = await startOAuthServer({
    accessTokenTtl: options.accessTokenTtl,
    rotateRefreshToken: true,
  });
  const proxy: FaultProxy = await startFaultProxy(oauth.issuer);
  const env = {
    REDIS_URL: redis.url,
    TK_REDIS_PREFIX: uniquePrefix('soak'),
    TK_GRANT_TIMEOUT_MS: '4000',
    TK_LEASE_TTL_MS: '6000',
    TK_JOB_LOCK_MS: '5000',
    TK_SWEEP_INTERVAL_MS: '5000',
    TK_TOKEN_WAIT_MS: '8000',
    TK_HISTORY_MAXLEN: '10000',
  };
  const apis: AppProcess[] = [];
  const workers: AppProcess[] = [];
  try {
    for (let i = 0; i < options.apis; i++) apis.push(await startApp('api', env, `api-${i + 1}`));
    for (let i = 0; i < options.workers; i++) workers.push(await startApp('worker', env, `worker-${i + 1}`));
    const client = (i: number) => apiClient(apis[i % apis.length]!.url!);

    // Register the fleet with the tokens just issued, so each starts active with a schedule.
    const ids: string[] = [];
    const c = oauth.clients.basic;
    for (let batch = 0; batch < options.credentials; batch += 25) {
      const n = Math.min(25, options.credentials - batch);
      const made = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const issued = await oauth.issueRefreshToken('basic');
          const res = await client(i).post<{ id: string }>('/v1/credentials', {
            kind: 'oauth2.refresh_token',
            name: `soak-${batch + i}`,
            issuer: oauth.issuer,
            tokenEndpoint: oauth.tokenEndpoint.replace(oauth.issuer, proxy.url),
            clientId: c.clientId,
            clientSecret: c.clientSecret,
            refreshToken: issued.refreshToken,
            accessToken: issued.accessToken,
            expiresIn: issued.expiresIn,
          });
          if (res.status !== 201)
            throw new Error(`registration failed: ${res.status} ${JSON.stringify(res.body)}`);
          return res.body.id;
        }),
      );
      ids.push(...made);
    }
    log(`registered ${ids.length} credentials`);
    oauth.resetCounters();
    await proxy.set({
      mode: 'pass',
      failureRate: 0.2,
      failureStatus: 503,
      hangRate: 0.02,
      latencyMs: 10,
      latencyJitterMs: 90,
    });

    let chaos = true;
    const latencies: number[] = [];
    let reads = 0;
    let unavailable = 0;
    const badTokens: string[] = [];
    const readers = Array.from({ length: options.readers }, async (_, r) => {
      while (chaos) {
        const id = ids[Math.floor(Math.random() * ids.length)]!;
        const started = performance.now();
        try {
          const res = await client(r).get<TokenBody>(`/v1/credentials/${id}/token?minTtl=5`);
          latencies.push(performance.now() - started);
          reads += 1;
          if (res.status === 200) {
            const left = Date.parse(res.body.expiresAt) - Date.now();
            const info = await oauth.introspect(res.body.accessToken);
            // A token served valid may expire while the check is under way (a cached token served
            // with a warning can have under minTtl left): only a token refused before its expiry counts.
            const expiredMeanwhile = Date.now() >= Date.parse(res.body.expiresAt);
            if (left <= 0 || (!info.active && !expiredMeanwhile)) {
              badTokens.push(`${id} v${res.body.tokenVersion} (${left} ms left)`);
            }
          } else {
            unavailable += 1;
          }
        } catch {
          unavailable += 1; // an api being restarted: a refused connection is not a bad token
        }
        await sleep(250);
      }
    });

    const counts = { workerKills: 0, redisKills: 0, apiRestarts: 0 };
    const timeline: string[] = [];
    const killTimes: number[] = [];
    const mark = (what: string) => timeline.push(`${new Date().toISOString().slice(14, 23)} ${what}`);
    const chaosLoop = (async () => {
      const start = Date.now();
      let redisDone = false;
      let apiDone = false;
      while (Date.now() - start < options.chaosMs) {
        await sleep(10_000 + Math.random() * 10_000);
        const elapsed = (Date.now() - start) / options.chaosMs;
        const victim = workers[Math.floor(Math.random() * workers.length)]!;
        mark(`kill ${victim.name}`);
        killTimes.push(Date.now());
        await victim.kill();
        counts.workerKills += 1;
        log(`killed ${victim.name}`);
        await sleep(500);
        await victim.start();
        if (!redisDone && elapsed > 0.3) {
          redisDone = true;
          mark('kill redis');
          await redis.kill();
          counts.redisKills += 1;
          log('killed redis');
          await sleep(1_000);
          await redis.restart();
        } else if (!apiDone && elapsed > 0.55) {
          apiDone = true;
          const api = apis[Math.floor(Math.random() * apis.length)]!;
          mark(`restart ${api.name}`);
          await api.stop();
          await api.start();
          counts.apiRestarts += 1;
          log(`restarted ${api.name}`);
        }
      }
    })();
    await chaosLoop;
    chaos = false;
    await Promise.all(readers);
    const providerFaults = proxy.stats.failed;
    await proxy.set({ mode: 'pass', failureRate: 0, hangRate: 0, latencyMs: 0, latencyJitterMs: 0 });
    log('chaos over; settling');

    // Settle: after the faults stop, every credential must be active with a valid token again.
    const deadline = Date.now() + options.settleMs;
    let notActive: string[] = ids;
    while (Date.now() < deadline && notActive.length > 0) {
      const states = await Promise.all(
        notActive.map(async (id) => ({
          id,
          v: (await client(0).get<{ state: string; expiresAt?: string }>(`/v1/credentials/${id}`)).body,
        })),
      );
      notActive = states
        .filter(({ v }) => v.state !== 'active' || !v.expiresAt || Date.parse(v.expiresAt) <= Date.now())
        .map(({ id }) => id);
      if (notActive.length > 0) {
        log(`settling: ${notActive.length} not active yet`);
        await sleep(2_000);
      }
    }

    let gaps = 0;
    let refreshes = 0;
    let late = 0;
    const margins: number[] = [];
    for (const id of ids) {
      const { body } = await client(0).get<{ items: EventBody[] }>(`/v1/credentials/${id}/events?limit=1000`);
      const events = body.items;
      const revisionsOk = events.every((e, i) => e.revision === i + 1);
      const updates = events.filter((e) => e.type === 'token.updated');
      const versionsOk = updates.every((e, i) => e.data.tokenVersion === i + 1);
      if (!revisionsOk || !versionsOk) gaps += 1;
      for (let i = 1; i < updates.length; i++) {
        refreshes += 1;
        const margin = Date.parse(updates[i - 1]!.data.expiresAt!) - Date.parse(updates[i]!.at);
        margins.push(margin);
        if (margin <= 0) late += 1;
      }
    }
    margins.sort((a, b) => a - b);
    const grantMs: number[] = [];
    const persistMs: number[] = [];
    for (const w of workers) {
      for (const m of w.logs().matchAll(/"grantMs":(\d+),"persistMs":(\d+)/g)) {
        grantMs.push(Number(m[1]));
        persistMs.push(Number(m[2]));
      }
    }
    grantMs.sort((a, b) => a - b);
    persistMs.sort((a, b) => a - b);
    // The documented crash window: a worker SIGKILLed after its grant request reached the provider
    // and before the answer was stored. The credential then shows an attempt that was due just
    // before a kill and nothing recorded until the next attempt presents the consumed refresh token.
    const reused = oauth.counters.errors.filter((e) => e.detail?.includes('already used'));
    const lostToWindow = new Set<string>();
    for (const id of notActive) {
      const { body } = await client(0).get<{ items: EventBody[] }>(`/v1/credentials/${id}/events?limit=1000`);
      const items = body.items;
      const f = items.findIndex(
        (e) => e.type === 'refresh.failed' && (e.data as { code?: string }).code === 'INVALID_GRANT',
      );
      const prev = f > 0 ? items[f - 1] : undefined;
      if (!prev) continue;
      const planned =
        prev.type === 'token.updated'
          ? (prev.data as { refreshAt?: string }).refreshAt
          : (prev.data as { nextAttemptAt?: string }).nextAttemptAt;
      if (!planned) continue;
      const due = Date.parse(planned);
      const failed = Date.parse(items[f]!.at);
      if (killTimes.some((k) => k >= due - 500 && k <= due + 6_000 && k < failed)) lostToWindow.add(id);
    }
    latencies.sort((a, b) => a - b);
    if (badTokens.length) log(`bad tokens: ${badTokens.slice(0, 10).join(', ')}`);
    if (notActive.length) log(`not active after settling: ${notActive.slice(0, 10).join(', ')}`);
    for (const id of notActive.slice(0, 10)) {
      const { body } = await client(0).get<{ items: EventBody[] }>(`/v1/credentials/${id}/events?limit=1000`);
      log(
        `history of ${id}${lostToWindow.has(id) ? ' (crash window)' : ''}: ${body.items
          .slice(-8)
          .map(
            (e) =>
              `${e.at.slice(14, 23)} ${e.type}${e.data.trigger ? `(${e.data.trigger})` : ''}${'code' in e.data ? ` ${String((e.data as { code?: string }).code)}` : ''}`,
          )
          .join(' | ')}`,
      );
      const lines = [...apis, ...workers].flatMap((p) =>
        p
          .logs()
          .split('\n')
          .filter((l) => l.includes(id))
          .map((l) => `${p.name}: ${l.slice(0, 300)}`),
      );
      log(`log lines of ${id}:\n  ${lines.slice(-12).join('\n  ')}`);
    }
    const reuse = oauth.counters.errors.filter((e) => e.detail?.includes('already used'));
    if (reuse.length)
      log(`reuse at: ${reuse.map((e) => new Date(e.at).toISOString().slice(14, 23)).join(', ')}`);
    log(`chaos timeline: ${timeline.join(', ')}`);
    return {
      credentialsLost: notActive.length,
      refreshTokensPresentedTwice: oauth.counters.refreshTokenReuse,
      expiredOrInactiveServed: badTokens.length,
      historiesWithGapsOrDuplicates: gaps,
      refreshesPerformed: refreshes,
      marginP50Ms: pct(margins, 50),
      // The worst 1 %: the p99 of lateness is the 1st percentile of the margin.
      marginP99Ms: pct(margins, 1),
      lateRefreshes: late,
      readerReads: reads,
      readerUnavailable: unavailable,
      readerLatencyP99Ms: Math.round(pct(latencies, 99)),
      grantP50Ms: pct(grantMs, 50),
      grantP99Ms: pct(grantMs, 99),
      persistP99Ms: pct(persistMs, 99),
      credentialsLostToCrashWindow: lostToWindow.size,
      badTokensOfCredentialsLostToCrashWindow: badTokens.filter((t) => lostToWindow.has(t.split(' ')[0]!))
        .length,
      refreshTokenReusesSeen: reused.length,
      ...counts,
      providerFaults,
    };
  } finally {
    await Promise.all([...apis, ...workers].map((p) => p.stop().catch(() => null)));
    await proxy.stop();
    await oauth.stop();
    await redis.destroy();
  }
}

export function formatReport(r: SoakReport): string {
  return Object.entries(r)
    .map(([k, v]) => `${k.padEnd(32)} ${v}`)
    .join('\n');
}
