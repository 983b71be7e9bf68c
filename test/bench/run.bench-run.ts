/**
 * `npm run bench`: the quality bars of docs/product.md, each next to a baseline measured in the
 * same run on the same Redis (hz 100). Prints a markdown table and writes
 * test-results/bench.json. Sized for a 2-core machine: about 4–6 minutes.
 *
 * Phases: bare BullMQ (no-op throughput, delayed-job lateness) → registration through the API →
 * refresh throughput (one worker, loopback token endpoint) → lateness of the next refreshes,
 * all due within 10 s → token reads (autocannon) → event to webhook → Redis memory per
 * credential (separate Redis, written directly).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import autocannon from 'autocannon';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { KeySpace } from '#store';
import { type AppProcess, apiClient, startApp, TEST_ADMIN_KEY } from '../support/processes.js';
import { startRedis, uniquePrefix } from '../support/redis-server.js';
import { sleep, waitFor } from '../support/wait.js';
import {
  type BenchRow,
  commandDelta,
  commandStats,
  LoopbackTokenEndpoint,
  mapLimit,
  percentiles,
  printTable,
  processCpuSeconds,
  redisCpuSeconds,
  WebhookReceiver,
} from './bench-support.js';
import { measureMemory } from './memory.js';

const N = Number(process.env.BENCH_CREDENTIALS ?? 10_000);
const CONCURRENCY = 50;
const READ_SECONDS = Number(process.env.BENCH_READ_SECONDS ?? 10);
/**
 * `BENCH_CPU_PROF_DIR=/tmp/prof npm run bench`: the worker runs under `--cpu-prof` for the whole
 * run, and the token-read phase runs against a second api started under `--cpu-prof` (so its
 * profile holds the reads only). Summarise with `node test/bench/cpuprofile-summary.mjs DIR/...`.
 */
const PROF_DIR = process.env.BENCH_CPU_PROF_DIR;
const profEnv = (kind: string): Record<string, string> =>
  PROF_DIR ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${PROF_DIR}/${kind}` } : {};

it('measures the quality bars against same-run baselines', async () => {
  const started = Date.now();
  const rows: BenchRow[] = [];
  const extra: Record<string, unknown> = {};
  const log = (msg: string) =>
    process.stdout.write(`[bench +${((Date.now() - started) / 1000).toFixed(0)}s] ${msg}\n`);

  const redis = await startRedis();
  const r = new Redis(redis.url, { maxRetriesPerRequest: null });
  const endpoint = new LoopbackTokenEndpoint();
  const receiver = new WebhookReceiver();
  await endpoint.start();
  await receiver.start();
  const apps: AppProcess[] = [];
  try {
    // ---- bare BullMQ baselines (same Redis, same concurrency) -------------------------------
    const bare = await bareBullmq(redis.url, log);

    // ---- registration -------------------------------------------------------------------------
    const prefix = uniquePrefix('bench');
    const env = {
      REDIS_URL: redis.url,
      TK_REDIS_PREFIX: prefix,
      TK_LOG_LEVEL: 'warn',
      TK_WORKER_CONCURRENCY: String(CONCURRENCY),
      TK_REFRESH_MIN_BUFFER_SECONDS: '1',
      TK_REFRESH_MAX_BUFFER_SECONDS: '1',
      // The bench measures the service, not the per-key limits (default 2000/s token reads).
      TK_RATE_LIMIT_TOKEN_PER_SECOND: '0',
      TK_RATE_LIMIT_WRITE_PER_SECOND: '0',
      TK_RATE_LIMIT_READ_PER_SECOND: '0',
    };
    const api = await startApp('api', env, 'api');
    apps.push(api);
    const client = apiClient(api.url!);
    log(`registering ${N} credentials through the API`);
    const regStart = Date.now();
    const ids = await mapLimit(
      Array.from({ length: N }, (_, i) => i),
      32,
      async (i) => {
        const res = await client.post<{ id: string }>('/v1/credentials', {
          kind: 'oauth2.client_credentials',
          name: `bench-${i}`,
          tokenEndpoint: endpoint.url,
          clientId: `b${i}`,
          clientSecret: 'bench-client-secret-0123456789',
        });
        if (res.status !== 201)
          throw new Error(`registration ${i}: ${res.status} ${JSON.stringify(res.body)}`);
        return res.body.id;
      },
    );
    const regRate = N / ((Date.now() - regStart) / 1000);
    rows.push({
      name: 'registration (API, 32 in flight)',
      value: regRate,
      unit: 'credentials/s',
      target: 'report',
      met: true,
    });

    // ---- refresh throughput: N due now, one worker --------------------------------------------
    const phaseStart = Date.now();
    const windowStart = phaseStart + Number(process.env.BENCH_LATENESS_DELAY_MS ?? 60_000);
    // First grants: lifetimes chosen so every next refresh falls due within 10 s of windowStart.
    endpoint.expiresIn = (clientId, now) => {
      const seen = endpoint.arrivals.get(clientId)?.length ?? 0;
      if (seen > 1) return 3600;
      return Math.max(2, Math.ceil((windowStart - now) / 1000) + Math.floor(Math.random() * 10));
    };
    // SLOWLOG over the throughput phase: every command slower than 1 ms.
    await r.config('SET', 'slowlog-log-slower-than', '1000');
    await r.call('SLOWLOG', 'RESET');
    const statsBefore = await commandStats(r);
    log('starting one worker: throughput');
    // info, as in production: the worker logs one line per refresh (and its readiness line).
    const redisCpuBefore = await redisCpuSeconds(r);
    const worker = await startApp('worker', { ...env, TK_LOG_LEVEL: 'info', ...profEnv('worker') }, 'worker');
    apps.push(worker);
    // CPU used by the worker's start-up (not the refreshes): subtracted below.
    const workerCpuAtReady = processCpuSeconds(worker.pid);
    await waitFor(() => endpoint.total >= N, {
      timeoutMs: 240_000,
      intervalMs: 50,
      message: 'first refresh of all',
    });
    const firstArrivals = [...endpoint.arrivals.values()].map((a) => a[0]!);
    const lastFirst = Math.max(...firstArrivals);
    const firstFirst = Math.min(...firstArrivals);
    await sleep(500);
    const statsAfter = await commandStats(r);
    // CPU per refresh: less sensitive to other load on the machine than the rate itself.
    const workerCpuMs = ((processCpuSeconds(worker.pid) - workerCpuAtReady) * 1000) / N;
    const redisCpuMs = (((await redisCpuSeconds(r)) - redisCpuBefore) * 1000) / N;
    extra.cpuPerRefresh = { workerMs: workerCpuMs, redisMs: redisCpuMs };
    const refreshRate = N / ((lastFirst - firstFirst) / 1000);
    const delta = commandDelta(statsBefore, statsAfter);
    const perRefresh = delta.reduce((s, [, v]) => s + v, 0) / N;
    const slowlog = (await r.call('SLOWLOG', 'GET', '20')) as [number, number, number, string[]][];
    const slowLen = Number(await r.call('SLOWLOG', 'LEN'));
    await r.config('SET', 'slowlog-log-slower-than', '10000');
    extra.commandsPerRefresh = {
      total: perRefresh,
      top: delta.slice(0, 20).map(([k, v]) => ({ command: k, perRefresh: v / N })),
      slowlogOver1ms: {
        count: slowLen,
        recent: slowlog.map(([, , us, args]) => ({ us, command: args.slice(0, 3).join(' ').slice(0, 120) })),
      },
    };
    rows.push({
      name: `refresh throughput (${N} due, 1 worker, c=${CONCURRENCY})`,
      value: refreshRate,
      unit: 'jobs/s',
      baseline: bare.throughput,
      baselineName: 'bare BullMQ no-op',
      target: '≥ 25 % of bare',
      met: refreshRate >= 0.25 * bare.throughput,
      note: `CPU per refresh: worker ${workerCpuMs.toFixed(2)} ms, Redis ${redisCpuMs.toFixed(2)} ms`,
    });
    log(
      `throughput ${refreshRate.toFixed(0)}/s, ${perRefresh.toFixed(1)} Redis commands per refresh, CPU per refresh: worker ${workerCpuMs.toFixed(2)} ms, Redis ${redisCpuMs.toFixed(2)} ms`,
    );

    // ---- lateness: the next refresh of every credential falls due within 10 s ------------------
    const keys = new KeySpace(prefix, 1);
    const dueAt = new Map<string, number>();
    for (let i = 0; i < N; i += 1000) {
      const pipe = r.pipeline();
      for (let j = i; j < Math.min(N, i + 1000); j++) pipe.hget(keys.credential(ids[j]!), 'p');
      const res = (await pipe.exec()) ?? [];
      res.forEach(([, v], k) => {
        const p = JSON.parse(v as string) as { token?: { refreshAt: number; tokenVersion: number } };
        if (p.token) dueAt.set(`b${i + k}`, p.token.refreshAt);
      });
    }
    const dues = [...dueAt.values()];
    log(
      `lateness: ${dueAt.size} refreshes due ${new Date(Math.min(...dues)).toISOString()} .. +${((Math.max(...dues) - Math.min(...dues)) / 1000).toFixed(1)} s`,
    );
    await waitFor(() => [...endpoint.arrivals.values()].every((a) => a.length >= 2), {
      timeoutMs: Math.max(...dues) - Date.now() + 120_000,
      intervalMs: 200,
      message: 'second refresh of all',
    });
    const lateness = percentiles([...dueAt].map(([c, due]) => endpoint.arrivals.get(c)![1]! - due));
    extra.lateness = { ours: lateness, bare: bare.lateness, spreadMs: Math.max(...dues) - Math.min(...dues) };
    rows.push({
      name: `lateness p99 (${dueAt.size} due within ~10 s)`,
      value: lateness.p99,
      unit: 'ms',
      baseline: bare.lateness.p99,
      baselineName: 'bare BullMQ delayed',
      target: '≤ 2× bare',
      met: lateness.p99 <= 2 * bare.lateness.p99,
      note: `p50 ${lateness.p50} ms, max ${lateness.max} ms (bare p50 ${bare.lateness.p50}, max ${bare.lateness.max})`,
    });
    rows.push({
      name: 'lateness p50',
      value: lateness.p50,
      unit: 'ms',
      baseline: bare.lateness.p50,
      baselineName: 'bare',
      target: 'report',
      met: true,
    });
    rows.push({
      name: 'lateness max',
      value: lateness.max,
      unit: 'ms',
      baseline: bare.lateness.max,
      baselineName: 'bare',
      target: 'report',
      met: true,
    });

    // ---- token reads ---------------------------------------------------------------------------
    log('token reads: autocannon');
    // Profiling: the reads go to a second api under --cpu-prof, so its profile holds only them.
    const readApi = PROF_DIR ? await startApp('api', { ...env, ...profEnv('api') }, 'api-reads') : api;
    if (readApi !== api) apps.push(readApi);
    const headers = { authorization: `Bearer ${TEST_ADMIN_KEY}` };
    let k = 0;
    const tokenPaths = () => `/v1/credentials/${ids[k++ % ids.length]}/token`;
    const cannon = (path: string | (() => string), rate?: number, auth = true) =>
      autocannon({
        url: readApi.url!,
        connections: 32,
        duration: READ_SECONDS,
        ...(auth ? { headers } : {}),
        ...(rate ? { overallRate: rate } : {}),
        requests: [
          {
            method: 'GET',
            setupRequest: (req) => ({ ...req, path: typeof path === 'string' ? path : path() }),
          },
        ],
      });
    await cannon(tokenPaths, undefined); // warm-up (JIT, key cache)
    const hello = await cannon('/health/live', undefined, false);
    const reads = await cannon(tokenPaths);
    const half = await cannon(tokenPaths, Math.floor(reads.requests.average / 2));
    const non2xx = reads.non2xx + half.non2xx;
    if (readApi !== api) {
      await readApi.stop();
      apps.splice(apps.indexOf(readApi), 1);
    }
    extra.tokenReads = {
      max: {
        rps: reads.requests.average,
        p50: reads.latency.p50,
        p99: reads.latency.p99,
        non2xx: reads.non2xx,
        errors: reads.errors,
      },
      halfRate: {
        rps: half.requests.average,
        p50: half.latency.p50,
        p99: half.latency.p99,
        non2xx: half.non2xx,
      },
      hello: {
        route: '/health/live',
        rps: hello.requests.average,
        p50: hello.latency.p50,
        p99: hello.latency.p99,
      },
    };
    rows.push({
      name: 'token reads, max rate (32 connections)',
      value: reads.requests.average,
      unit: 'req/s',
      baseline: hello.requests.average,
      baselineName: '/health/live',
      target: '≥ 70 % of hello-world',
      met: reads.requests.average >= 0.7 * hello.requests.average && non2xx === 0,
      note: `p50 ${reads.latency.p50} ms, p99 ${reads.latency.p99} ms; non-2xx ${non2xx}`,
    });
    rows.push({
      name: 'token read p99 at half the max rate',
      value: half.latency.p99,
      unit: 'ms',
      baseline: hello.latency.p99,
      baselineName: '/health/live p99 at max',
      target: '< 5 ms',
      met: half.latency.p99 < 5,
      note: `p50 ${half.latency.p50} ms at ${half.requests.average.toFixed(0)} req/s`,
    });

    // ---- event to webhook at 200 refreshes/s ---------------------------------------------------
    log('event to webhook: 200 refreshes/s for 10 s');
    const sub = await client.post<{ id: string }>('/v1/subscriptions', {
      url: receiver.url,
      eventTypes: ['token.updated'],
    });
    if (sub.status === 201) {
      await sleep(1000);
      receiver.recording = true;
      const targets = ids.slice(0, 2000);
      const t0 = Date.now();
      for (let b = 0; b < 100; b++) {
        const batch = targets.slice(b * 20, b * 20 + 20);
        await Promise.all(batch.map((id) => client.post(`/v1/credentials/${id}/refresh`)));
        const wait = t0 + (b + 1) * 100 - Date.now();
        if (wait > 0) await sleep(wait);
      }
      await waitFor(() => receiver.latencies.length >= targets.length, {
        timeoutMs: 60_000,
        intervalMs: 100,
        message: 'webhooks',
      }).catch(() => undefined);
      const wh = percentiles(receiver.latencies);
      extra.webhook = { ...wh, driveSeconds: (Date.now() - t0) / 1000 };
      rows.push({
        name: 'event → webhook p99 (200 refreshes/s)',
        value: wh.p99,
        unit: 'ms',
        target: '< 100 ms',
        met: wh.p99 < 100 && wh.n >= targets.length * 0.99,
        note: `p50 ${wh.p50} ms, ${wh.n}/${targets.length} delivered`,
      });
    } else {
      rows.push({
        name: 'event → webhook p99',
        value: Number.NaN,
        unit: 'ms',
        target: '< 100 ms',
        note: `POST /v1/subscriptions answered ${sub.status} ${JSON.stringify(sub.body).slice(0, 200)}`,
      });
    }
    await Promise.all(apps.map((a) => a.stop()));
    apps.length = 0;

    // ---- memory ----------------------------------------------------------------------------------
    log('memory: 10k and 100k credentials written directly');
    const mem = await measureMemory(
      r,
      keys,
      ids[0]!,
      [Number(process.env.BENCH_MEMORY_SMALL ?? 10_000), Number(process.env.BENCH_MEMORY_LARGE ?? 100_000)],
      log,
    );
    extra.memory = mem;
    for (const m of mem.points)
      rows.push({
        name: `Redis memory per credential at ${m.credentials / 1000}k`,
        value: m.bytesPerCredential,
        unit: 'B',
        target: '≤ 4096 B',
        met: m.bytesPerCredential <= 4096,
        note: `used_memory ${(m.usedMemory / 2 ** 20).toFixed(1)} MiB`,
      });
    // The feed is a transport bounded by time (TK_FEED_RETENTION_HOURS) and TK_FEED_MAXLEN, not a
    // per-credential record: its share depends on the event rate × retention, so it is shown apart.
    const last = mem.points.at(-1);
    if (last) {
      const feedPerCredential = mem.breakdown.feedPerCredential ?? 0;
      rows.push({
        name: `… of which credential state (without the feed) at ${last.credentials / 1000}k`,
        value: last.bytesPerCredential - feedPerCredential,
        unit: 'B',
        target: '≤ 4096 B',
        met: last.bytesPerCredential - feedPerCredential <= 4096,
        note: `feed ≈ ${(feedPerCredential / 10).toFixed(0)} B per event (10 per credential here); steady state = events/s × retention`,
      });
    }
    rows.push(...bare.rows);
  } finally {
    await Promise.all(apps.map((a) => a.stop()));
    r.disconnect();
    await endpoint.stop();
    await receiver.stop();
    await redis.destroy();
  }

  const table = printTable(rows);
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.versions.node}`;
  process.stdout.write(`\n${machine}\n${table}\n`);
  mkdirSync('test-results', { recursive: true });
  writeFileSync(
    'test-results/bench.json',
    `${JSON.stringify({ at: new Date().toISOString(), machine, credentials: N, durationS: (Date.now() - started) / 1000, rows, ...extra }, null, 2)}\n`,
  );
  expect(rows.length).toBeGreaterThan(0);
});

/** Bare BullMQ in this process: no-op throughput at the worker's concurrency, and delayed-job lateness. */
async function bareBullmq(url: string, log: (m: string) => void) {
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  const prefix = `${uniquePrefix('bare')}:{q}`;
  const rows: BenchRow[] = [];
  try {
    const q = new Queue('bare', { connection, prefix });
    const jobs = 2 * N;
    for (let i = 0; i < jobs; i += 1000)
      await q.addBulk(
        Array.from({ length: 1000 }, (_, j) => ({
          name: 'n',
          data: { i: i + j },
          opts: { removeOnComplete: true },
        })),
      );
    log(`bare BullMQ: ${jobs} no-op jobs`);
    let done = 0;
    const t0 = Date.now();
    const w = new Worker('bare', async () => undefined, { connection, prefix, concurrency: CONCURRENCY });
    w.on('completed', () => {
      done += 1;
    });
    await waitFor(() => done >= jobs, { timeoutMs: 120_000, intervalMs: 20, message: 'bare jobs' });
    const throughput = jobs / ((Date.now() - t0) / 1000);
    await w.close();

    log(`bare BullMQ: ${N} delayed jobs due within 10 s`);
    const late: number[] = [];
    const q2 = new Queue('bare-delayed', { connection, prefix });
    const w2 = new Worker(
      'bare-delayed',
      async (job) => {
        late.push(Date.now() - (job.data as { due: number }).due);
      },
      { connection, prefix, concurrency: CONCURRENCY },
    );
    const base = Date.now() + 3000;
    for (let i = 0; i < N; i += 1000)
      await q2.addBulk(
        Array.from({ length: Math.min(1000, N - i) }, () => {
          const due = base + Math.floor(Math.random() * 10_000);
          return { name: 'd', data: { due }, opts: { delay: due - Date.now(), removeOnComplete: true } };
        }),
      );
    await waitFor(() => late.length >= N, {
      timeoutMs: 60_000,
      intervalMs: 50,
      message: 'bare delayed jobs',
    });
    await w2.close();
    await q.close();
    await q2.close();
    const lateness = percentiles(late);
    return { throughput, lateness, rows };
  } finally {
    connection.disconnect();
  }
}
