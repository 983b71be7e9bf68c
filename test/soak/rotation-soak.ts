import { type ChildProcess, spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type FaultProxy,
  type FaultSettings,
  type Presentation,
  startFaultProxy,
  tokenHash,
} from '../support/fault-proxy.js';
import { type GraceOAuthServer, startGraceOAuthServer } from '../support/grace-oauth-server.js';
import {
  type IntrospectionResult,
  type IssuedTokens,
  type OAuthServer,
  startOAuthServer,
} from '../support/oauth-server.js';
import { type AppProcess, apiClient, startApp } from '../support/processes.js';
import { type RedisServer, startRedis, uniquePrefix } from '../support/redis-server.js';

/**
 * The rotation soak: a fleet of rotating refresh-token credentials kept fresh by real api and
 * worker processes, through the fault proxy, while the provider fails, answers late or loses
 * answers, a neighbour process burns a core, Redis is SIGKILLed and restarted from its AOF, an api
 * is restarted and (optionally) workers are SIGKILLed. Readers fetch tokens all along and check
 * each against the provider's introspection. Everything is measured from evidence: the proxy's
 * record of every refresh-token presentation (which worker, the provider's status, whether the
 * answer reached the worker), the provider's counters and the credentials' histories.
 */

export type SoakProvider = 'strict' | 'grace';

export interface RotationSoakOptions {
  /** `strict`: oidc-provider, reuse revokes the grant. `grace`: reuse allowed for `graceSeconds`. */
  provider: SoakProvider;
  graceSeconds?: number;
  credentials: number;
  chaosMs: number;
  /** Longest wait, after the faults stop, for every credential to be active again. */
  settleMs: number;
  /** Wall-clock budget of the whole soak: the settle is cut short to finish the checks within it. */
  budgetMs: number;
  workers: number;
  apis: number;
  readers: number;
  accessTokenTtl: number;
  /** Fault proxy settings during the chaos (rates, `holdMs`, `seed`). */
  faults: Partial<FaultSettings>;
  /** SIGKILL a worker every 10–20 s (restarting it 0.5 s later). */
  workerKills: boolean;
  cpuNeighbour: boolean;
  /** The per-credential `rotation` settings sent at registration (absent: the product's default). */
  rotation?: { mode: 'none' | 'strict' | 'grace'; graceSeconds?: number };
  /** Process environment on top of the soak's own (timeouts, lease). */
  env?: Record<string, string>;
  log?: (line: string) => void;
}

export interface WorkerKill {
  at: number;
  name: string;
  /** `host:pid` of the killed process, as in its `x-tokenkeeper-worker` header. */
  workerId: string;
}

export interface EventBody {
  type: string;
  revision: number;
  at: string;
  data: {
    tokenVersion?: number;
    expiresAt?: string;
    trigger?: string;
    code?: string;
    message?: string;
    outcome?: string;
  };
}

export interface LostCredential {
  id: string;
  state: string;
  /** The last events of its history (no secrets: events never hold any). */
  events: EventBody[];
  /** Hash of the refresh token it was registered with (the start of its chain in the proxy's record). */
  initialToken: string;
}

export interface RotationSoakResult {
  credentials: number;
  /** `token.updated` events after registration, across the fleet. */
  refreshes: number;
  /** Refresh-token presentations the provider answered, from the proxy's record. */
  presentations: number;
  /** Refresh tokens the provider answered more than once, from the proxy's record. */
  presentedTwice: string[];
  /** Strict provider: rotated tokens presented again; grace provider: reuse inside the window. */
  reuseInsideWindow: number;
  /** Reuse the provider punished (strict: every reuse; grace: reuse after the window). */
  reuseOutsideWindow: number;
  /** Credentials not `active` with an unexpired token once the faults stopped and the fleet settled. */
  lost: LostCredential[];
  badTokens: string[];
  historiesWithGaps: number;
  reads: number;
  grantP50Ms: number;
  grantP99Ms: number;
  kills: WorkerKill[];
  redisKills: number;
  apiRestarts: number;
  /** Answers the proxy failed before forwarding (5xx, hangs) and after forwarding (held, reset, 502). */
  faultsBeforeForward: number;
  faultsAfterForward: number;
  /** The proxy's record, for attribution by evidence. */
  record: ReadonlyMap<string, readonly Presentation[]>;
  wallMs: number;
}

interface TokenBody {
  accessToken: string;
  tokenVersion: number;
  expiresAt: string;
}

export const pct = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

interface SoakProviderHandle {
  issuer: string;
  tokenEndpoint: string;
  client: { clientId: string; clientSecret: string };
  issue(): Promise<IssuedTokens>;
  introspect(token: string): Promise<IntrospectionResult>;
  reuse(): { inside: number; outside: number };
  stop(): Promise<void>;
}

async function startProvider(options: RotationSoakOptions): Promise<SoakProviderHandle> {
  if (options.provider === 'grace') {
    const grace: GraceOAuthServer = await startGraceOAuthServer({
      graceSeconds: options.graceSeconds ?? 30,
      accessTokenTtl: options.accessTokenTtl,
    });
    return providerHandle(grace, () => ({
      inside: grace.counters.reuseInsideWindow,
      outside: grace.counters.reuseOutsideWindow,
    }));
  }
  const oauth = await startOAuthServer({ accessTokenTtl: options.accessTokenTtl, rotateRefreshToken: true });
  return providerHandle(oauth, () => ({ inside: 0, outside: oauth.counters.refreshTokenReuse }));
}

/** Either provider, through its `basic` client; `reuse` counts what it saw reused. */
function providerHandle(
  server: GraceOAuthServer | OAuthServer,
  reuse: SoakProviderHandle['reuse'],
): SoakProviderHandle {
  return {
    issuer: server.issuer,
    tokenEndpoint: server.tokenEndpoint,
    client: server.clients.basic,
    issue: () => server.issueRefreshToken('basic'),
    introspect: (token) => server.introspect(token),
    reuse,
    stop: () => server.stop(),
  };
}

/**
 * A process that keeps one core ~90 % busy, competing with the apps for the CPU. It checks every
 * 100 ms that the test process is still its parent and exits otherwise, so it never outlives a
 * test process that dies without cleaning up.
 */
const NEIGHBOUR = `const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
  const until = Date.now() + 90;
  while (Date.now() < until);
}, 100);`;

function startCpuNeighbour(): ChildProcess {
  return spawn(process.execPath, ['-e', NEIGHBOUR], { stdio: 'ignore' });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** `host:pid` of a process started here, as tokenkeeper names itself in the worker header. */
export const workerIdOf = (pid: number | undefined) => `${hostname()}:${pid ?? 'unknown'}`;

export async function runRotationSoak(options: RotationSoakOptions): Promise<RotationSoakResult> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const redis: RedisServer = await startRedis({ appendonly: true });
  const provider = await startProvider(options);
  const proxy: FaultProxy = await startFaultProxy(provider.issuer);
  const env: Record<string, string> = {
    REDIS_URL: redis.url,
    TK_REDIS_PREFIX: uniquePrefix('rsoak'),
    TK_SWEEP_INTERVAL_MS: '5000',
    TK_TOKEN_WAIT_MS: '8000',
    TK_HISTORY_MAXLEN: '10000',
    // Readiness is about the fleet's tokens here, not about webhook delivery lag.
    TK_READY_MAX_FEED_LAG: '0',
    TK_OUTBOUND_WORKER_HEADER: '1',
    ...options.env,
  };
  const apis: AppProcess[] = [];
  const workers: AppProcess[] = [];
  let neighbour: ChildProcess | undefined;
  try {
    const starting = [
      ...Array.from({ length: options.apis }, (_, i) => startApp('api', env, `api-${i + 1}`)),
      ...Array.from({ length: options.workers }, (_, i) => startApp('worker', env, `worker-${i + 1}`)),
    ];
    // Keep every process that did start, so `finally` stops it even if another failed.
    const startedApps = await Promise.allSettled(starting);
    for (const [i, outcome] of startedApps.entries())
      if (outcome.status === 'fulfilled') (i < options.apis ? apis : workers).push(outcome.value);
    const failed = startedApps.find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
    log('processes started');
    const client = (i: number) => apiClient(apis[i % apis.length]!.url!);

    // Register the fleet with tokens just issued, so each starts active with a schedule.
    const ids: string[] = [];
    const initialToken = new Map<string, string>();
    for (let batch = 0; batch < options.credentials; batch += 25) {
      const n = Math.min(25, options.credentials - batch);
      const made = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const issued = await provider.issue();
          const res = await client(i).post<{ id: string }>('/v1/credentials', {
            kind: 'oauth2.refresh_token',
            name: `rsoak-${batch + i}`,
            issuer: provider.issuer,
            tokenEndpoint: provider.tokenEndpoint.replace(provider.issuer, proxy.url),
            clientId: provider.client.clientId,
            clientSecret: provider.client.clientSecret,
            refreshToken: issued.refreshToken,
            accessToken: issued.accessToken,
            expiresIn: issued.expiresIn,
            ...(options.rotation ? { rotation: options.rotation } : {}),
          });
          if (res.status !== 201)
            throw new Error(`registration failed: ${res.status} ${JSON.stringify(res.body)}`);
          initialToken.set(res.body.id, tokenHash(issued.refreshToken));
          return res.body.id;
        }),
      );
      ids.push(...made);
    }
    log(`registered ${ids.length} credentials`);
    // The record and the provider's counters keep what happened during registration (a refresh
    // may already run): a chain of refresh tokens starts at registration.
    proxy.resetStats();
    await proxy.set({ mode: 'pass', ...options.faults });
    if (options.cpuNeighbour) neighbour = startCpuNeighbour();

    let chaos = true;
    let reads = 0;
    const badTokens: string[] = [];
    const readers = Array.from({ length: options.readers }, async (_, r) => {
      while (chaos) {
        const id = ids[Math.floor(Math.random() * ids.length)]!;
        try {
          const res = await client(r).get<TokenBody>(`/v1/credentials/${id}/token?minTtl=5`);
          reads += 1;
          if (res.status === 200) {
            const left = Date.parse(res.body.expiresAt) - Date.now();
            const info = await provider.introspect(res.body.accessToken);
            // A token served valid may expire while the check is under way: only a token refused
            // before its expiry, or served already expired, counts.
            const expiredMeanwhile = Date.now() >= Date.parse(res.body.expiresAt);
            if (left <= 0 || (!info.active && !expiredMeanwhile))
              badTokens.push(`${id} v${res.body.tokenVersion} (${left} ms left, active ${info.active})`);
          }
        } catch {
          // an api being restarted: a refused connection is not a bad token
        }
        await sleep(250);
      }
    });

    // On a loaded machine a start can outlast its readiness wait: say why, and try once more.
    const restart = async (p: AppProcess) => {
      try {
        await p.start();
        log(`${p.name} started again`);
      } catch (err) {
        log(`${p.name} slow to start again (${(err as Error).message}); log tail: ${p.logs().slice(-600)}`);
        await p.stop().catch(() => null);
        await p.start();
      }
    };
    const kills: WorkerKill[] = [];
    let redisKills = 0;
    let apiRestarts = 0;
    // Restarts run beside the chaos (a slow start must not stretch it); a worker is killed again
    // only once it is back.
    const restarting = new Map<AppProcess, Promise<void>>();
    const restartErrors: Error[] = [];
    const restartLater = (p: AppProcess) =>
      restarting.set(
        p,
        restart(p)
          .catch((err: Error) => void restartErrors.push(err))
          .finally(() => restarting.delete(p)),
      );
    const chaosStart = Date.now();
    const elapsed = () => (Date.now() - chaosStart) / options.chaosMs;
    const chaosLoop = async () => {
      let nextKill = chaosStart + 10_000 + Math.random() * 10_000;
      while (Date.now() - chaosStart < options.chaosMs) {
        await sleep(250);
        const up = workers.filter((w) => !restarting.has(w));
        if (options.workerKills && Date.now() >= nextKill && up.length > 0) {
          const victim = up[Math.floor(Math.random() * up.length)]!;
          const workerId = workerIdOf(victim.pid);
          await victim.kill();
          kills.push({ at: Date.now(), name: victim.name, workerId });
          log(`killed ${victim.name} (${workerId})`);
          await sleep(500);
          restartLater(victim);
          nextKill = Date.now() + 10_000 + Math.random() * 10_000;
        }
        if (redisKills === 0 && elapsed() > 0.3) {
          redisKills += 1;
          await redis.kill();
          log('killed redis');
          await sleep(1_000);
          await redis.restart();
          log('redis restarted from its AOF');
        }
        if (apiRestarts === 0 && elapsed() > 0.55) {
          apiRestarts += 1;
          const api = apis[0]!;
          await api.stop();
          log(`stopped ${api.name}`);
          restartLater(api);
        }
      }
      await Promise.all(restarting.values());
      if (restartErrors.length > 0) throw restartErrors[0];
    };
    await chaosLoop();
    chaos = false;
    await Promise.all(readers);
    if (neighbour) await stopChild(neighbour);
    const stats = proxy.stats;
    await proxy.set({
      mode: 'pass',
      failureRate: 0,
      hangRate: 0,
      heldAfterForward: 0,
      resetAfterForward: 0,
      badGatewayAfterForward: 0,
      latencyMs: 0,
      latencyJitterMs: 0,
    });
    log('chaos over; settling');

    // Settle: after the faults stop, every credential must be active with a valid token again.
    // The settle ends early enough to leave time for the checks within the overall budget.
    const deadline = Math.min(Date.now() + options.settleMs, started + options.budgetMs - 20_000);
    let notActive: { id: string; state: string }[] = ids.map((id) => ({ id, state: 'unknown' }));
    while (notActive.length > 0) {
      const states = await Promise.all(
        notActive.map(async ({ id }) => ({
          id,
          v: (await client(1).get<{ state: string; expiresAt?: string }>(`/v1/credentials/${id}`)).body,
        })),
      );
      notActive = states
        .filter(({ v }) => v.state !== 'active' || !v.expiresAt || Date.parse(v.expiresAt) <= Date.now())
        .map(({ id, v }) => ({ id, state: v.state }));
      // A credential that needs a new consent will not come back: stop waiting once only those remain.
      if (notActive.every((c) => c.state === 'reauth_required') || Date.now() >= deadline) break;
      log(`settling: ${notActive.length} not active yet`);
      await sleep(2_000);
    }

    let gaps = 0;
    let refreshes = 0;
    const histories = new Map<string, EventBody[]>();
    for (let i = 0; i < ids.length; i += 10) {
      const batch = ids.slice(i, i + 10);
      const bodies = await Promise.all(
        batch.map(
          async (id) =>
            (await client(1).get<{ items: EventBody[] }>(`/v1/credentials/${id}/events?limit=1000`)).body,
        ),
      );
      for (const [j, id] of batch.entries()) histories.set(id, bodies[j]!.items);
    }
    for (const events of histories.values()) {
      const updates = events.filter((e) => e.type === 'token.updated');
      if (
        !events.every((e, i) => e.revision === i + 1) ||
        !updates.every((e, i) => e.data.tokenVersion === i + 1)
      )
        gaps += 1;
      refreshes += Math.max(0, updates.length - 1);
    }
    const grantMs = workers.flatMap((w) =>
      [...w.logs().matchAll(/"grantMs":(\d+)/g)].map((m) => Number(m[1])),
    );
    const record = proxy.presentations();
    const answered = [...record.values()].flat().filter((p) => p.providerStatus !== undefined);
    const reuse = provider.reuse();
    return {
      credentials: ids.length,
      refreshes,
      presentations: answered.length,
      presentedTwice: proxy.tokensPresentedTwice(),
      reuseInsideWindow: reuse.inside,
      reuseOutsideWindow: reuse.outside,
      lost: notActive.map(({ id, state }) => ({
        id,
        state,
        events: (histories.get(id) ?? []).slice(-12),
        initialToken: initialToken.get(id) ?? '',
      })),
      badTokens,
      historiesWithGaps: gaps,
      reads,
      grantP50Ms: pct(grantMs, 50),
      grantP99Ms: pct(grantMs, 99),
      kills,
      redisKills,
      apiRestarts,
      faultsBeforeForward: stats.failed,
      faultsAfterForward: stats.afterForwardFaults,
      record,
      wallMs: Date.now() - started,
    };
  } finally {
    if (neighbour) await stopChild(neighbour);
    await Promise.all([...apis, ...workers].map((p) => p.stop().catch(() => null)));
    await proxy.stop();
    await provider.stop();
    await redis.destroy();
  }
}

/** One line of figures, printed at the end of each soak. */
export function summaryLine(label: string, r: RotationSoakResult): string {
  return (
    `[${label}] credentials=${r.credentials} refreshes=${r.refreshes} presentations=${r.presentations} ` +
    `presentedTwice=${r.presentedTwice.length} reuseInsideWindow=${r.reuseInsideWindow} ` +
    `reuseOutsideWindow=${r.reuseOutsideWindow} lost=${r.lost.length} ` +
    `(reauth_required=${r.lost.filter((l) => l.state === 'reauth_required').length}) ` +
    `badTokens=${r.badTokens.length} grantP50=${r.grantP50Ms}ms grantP99=${r.grantP99Ms}ms ` +
    `faults=${r.faultsBeforeForward}+${r.faultsAfterForward} workerKills=${r.kills.length} ` +
    `redisKills=${r.redisKills} apiRestarts=${r.apiRestarts} reads=${r.reads} wall=${Math.round(r.wallMs / 1000)}s`
  );
}

/** The last events of a credential, one line, for a failure message. */
export function historyLine(events: readonly EventBody[]): string {
  return events
    .map(
      (e) =>
        `${e.at.slice(14, 23)} ${e.type}${e.data.trigger ? `(${e.data.trigger})` : ''}` +
        `${e.data.code ? ` ${e.data.code}` : ''}${e.data.outcome ? `/${e.data.outcome}` : ''}`,
    )
    .join(' | ');
}
