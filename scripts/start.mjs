#!/usr/bin/env node
// Development launcher: `npm start` (= build, then this script).
//
// Without REDIS_URL it starts an embedded redis-server (data and append-only file under
// $TK_DATA_DIR/redis, default ./.data/redis; 127.0.0.1 only, with a generated password kept in
// $TK_DATA_DIR/redis/password), then runs the api and the worker from dist/ with
// REDIS_URL and TK_DEV_MODE=1 set, their output prefixed with [api]/[worker]. SIGINT/SIGTERM/SIGHUP
// stop the apps (SIGTERM, SIGKILL after 15 s), then Redis (SIGTERM: it fsyncs the AOF), then exit.
// If an app or Redis dies on its own, everything is stopped and the exit code is non-zero.
//
//   node scripts/start.mjs --redis-only   just the embedded Redis; prints REDIS_URL=... (with its
//                                         password) on stdout
//
// The data directory is 0700 and everything the launcher, Redis and the apps write in it 0600
// (umask 077).
//
// Env: REDIS_URL, TK_DATA_DIR, TK_EMBEDDED_REDIS_PORT (default 6380; 0 = any free port),
// TK_API_HOST, TK_API_PORT, and everything the apps read (passed through).
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DEFAULT_EMBEDDED_REDIS_PORT, say, startEmbeddedRedis } from './lib/embedded-redis.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SHUTDOWN_DEADLINE_MS = 15_000;
const APPS = [
  { name: 'api', entry: path.join(ROOT, 'dist/apps/api/src/main.js') },
  { name: 'worker', entry: path.join(ROOT, 'dist/apps/worker/src/main.js') },
];
const CLEAN_EXIT_SIGNALS = new Set(['SIGTERM', 'SIGINT']);
const CLEAN_EXIT_CODES = new Set([0, 130, 143]);

const USAGE = `usage: node scripts/start.mjs [--redis-only]
  (no option)    run api + worker from dist/ (embedded Redis unless REDIS_URL is set)
  --redis-only   run only the embedded Redis and print REDIS_URL=redis://:<password>@127.0.0.1:<port>`;

function fail(msg) {
  say(msg);
  process.exit(1);
}

function parseArgs(argv) {
  const opts = { redisOnly: false };
  for (const arg of argv) {
    if (arg === '--redis-only') opts.redisOnly = true;
    else if (arg === '-h' || arg === '--help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else fail(`unknown argument ${arg}\n${USAGE}`);
  }
  return opts;
}

function embeddedRedisPort() {
  const raw = process.env.TK_EMBEDDED_REDIS_PORT;
  if (raw === undefined || raw === '') return DEFAULT_EMBEDDED_REDIS_PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    fail(`TK_EMBEDDED_REDIS_PORT must be a port number (0 = any free port), got ${JSON.stringify(raw)}`);
  }
  return port;
}

/** The Node binary for the apps: this one if it is Node >= 24, else the repo's node_modules/.bin/node. */
function nodeForApps() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 24) return process.execPath;
  const local = path.join(ROOT, 'node_modules/.bin/node');
  if (existsSync(local)) {
    say(`this is Node ${process.versions.node}; running the apps on ${local}`);
    return local;
  }
  say(
    `warning: Node ${process.versions.node} is older than 24 and node_modules/.bin/node is missing (npm ci?)`,
  );
  return process.execPath;
}

function redactUrl(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable REDIS_URL)';
  }
}

function apiUrls() {
  const host = process.env.TK_API_HOST || '0.0.0.0';
  const port = process.env.TK_API_PORT || '8080';
  const wildcard = host === '0.0.0.0' || host === '::';
  const shown = wildcard ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  const probe = wildcard ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return { base: `http://${shown}:${port}`, probe: `http://${probe}:${port}/health/live` };
}

/**
 * The API's port, tried before anything starts: one line that says what to do, rather than an
 * "API is up" from whichever instance holds it followed by the api dying with EADDRINUSE.
 */
function portInUse() {
  const host = process.env.TK_API_HOST || '0.0.0.0';
  const port = Number(process.env.TK_API_PORT || '8080');
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (err) =>
      resolve(
        err.code === 'EADDRINUSE'
          ? `port ${port} is already in use (another tokenkeeper?): stop it, or start this one with TK_API_PORT=<port>`
          : undefined,
      ),
    );
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(undefined)));
  });
}

// --- --redis-only ---------------------------------------------------------------------------------

async function runRedisOnly(dataDir) {
  const redisDir = path.join(dataDir, 'redis');
  const redis = await startEmbeddedRedis({ dir: redisDir, port: embeddedRedisPort() });
  process.stdout.write(`REDIS_URL=${redis.url}\n`);
  say(
    `embedded Redis at ${redactUrl(redis.url)} (pid ${redis.pid ?? '?'}), data and AOF in ${redisDir}; Ctrl-C to stop`,
  );
  const keepAlive = setInterval(() => {}, 1 << 30);
  redis.onUnexpectedExit(({ code, signal, error }) => {
    say(`embedded Redis exited unexpectedly (${error?.message ?? signal ?? `code ${code}`})`);
    process.exit(1);
  });
  let stopping = false;
  const stop = async (sig) => {
    if (stopping) return;
    stopping = true;
    if (redis.owned) say(`${sig}: stopping the embedded Redis`);
    const { code, signal } = await redis.stop();
    clearInterval(keepAlive);
    process.exit(code === 0 || signal === 'SIGTERM' ? 0 : 1);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => void stop(sig));
}

// --- api + worker ---------------------------------------------------------------------------------

function pipeWithPrefix(stream, out, prefix) {
  const rl = readline.createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  rl.on('line', (line) => out.write(`${prefix} ${line}\n`));
}

async function runApps(dataDir) {
  const missing = APPS.filter((app) => !existsSync(app.entry));
  if (missing.length > 0) {
    fail(
      `${missing.map((a) => path.relative(ROOT, a.entry)).join(' and ')} missing: run \`npm run build\` first (npm start does)`,
    );
  }
  const node = nodeForApps();
  const taken = await portInUse();
  if (taken) fail(taken);

  let redis;
  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    try {
      redis = await startEmbeddedRedis({ dir: path.join(dataDir, 'redis'), port: embeddedRedisPort() });
    } catch (err) {
      fail(err.message);
    }
    redisUrl = redis.url;
  }

  const env = {
    ...process.env,
    REDIS_URL: redisUrl,
    TK_DEV_MODE: process.env.TK_DEV_MODE ?? '1',
    TK_DATA_DIR: dataDir,
  };

  const urls = apiUrls();
  const redisLine = redis
    ? `${redactUrl(redis.url)} (embedded${redis.owned ? '' : ', reused'}, append-only file in ${redis.dir})`
    : `${redactUrl(redisUrl)} (from REDIS_URL)`;
  process.stderr.write(
    [
      '',
      '  tokenkeeper (development)',
      `  API     ${urls.base}`,
      `  Docs    ${urls.base}/docs (sign in with any user name and the admin key as password)`,
      `  Redis   ${redisLine}`,
      `  Data    ${dataDir}${env.TK_DEV_MODE === '1' ? ' (dev mode: encryption key kept here)' : ''}`,
      '  Ctrl-C stops everything.',
      '',
      '',
    ].join('\n'),
  );

  const running = new Map();
  let shuttingDown = false;
  let exitCode = 0;

  const shutdown = async (reason, code) => {
    exitCode = Math.max(exitCode, code);
    if (shuttingDown) return;
    shuttingDown = true;
    say(reason);
    for (const { child } of running.values()) child.kill('SIGTERM');
    const deadline = setTimeout(() => {
      for (const [name, { child }] of running) {
        say(`${name} still running after ${SHUTDOWN_DEADLINE_MS / 1000} s; killing it`);
        child.kill('SIGKILL');
        exitCode = 1;
      }
    }, SHUTDOWN_DEADLINE_MS);
    await Promise.all([...running.values()].map((r) => r.closed));
    clearTimeout(deadline);
    if (redis?.owned) {
      say('stopping the embedded Redis (it flushes the append-only file)');
      const { code: redisCode, signal } = await redis.stop();
      if (redisCode !== 0 && signal !== 'SIGTERM') {
        say(`embedded Redis exited with ${signal ?? `code ${redisCode}`}`);
        exitCode = 1;
      }
    }
    say(`stopped${exitCode === 0 ? '' : ` (exit code ${exitCode})`}`);
    process.exit(exitCode);
  };

  // Second signal while stopping: do not wait for the deadline.
  let signals = 0;
  const onSignal = (sig) => {
    signals += 1;
    if (signals === 1) void shutdown(`${sig}: stopping api and worker`, 0);
    else {
      say(`${sig} again: killing api and worker now`);
      for (const { child } of running.values()) child.kill('SIGKILL');
    }
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, onSignal);

  // Last resort if the launcher itself crashes: never leave children behind.
  process.on('exit', () => {
    for (const { child } of running.values()) child.kill('SIGKILL');
  });
  process.on('uncaughtException', (err) => {
    say(`launcher error: ${err.stack ?? err}`);
    void shutdown('stopping everything', 1);
  });

  redis?.onUnexpectedExit(({ code, signal, error }) => {
    void shutdown(`embedded Redis exited unexpectedly (${error?.message ?? signal ?? `code ${code}`})`, 1);
  });

  for (const app of APPS) {
    // Own process group, so a terminal Ctrl-C reaches only the launcher, which sends exactly one SIGTERM.
    // The telemetry preload: OpenTelemetry must patch node:http before the app's modules load.
    const child = spawn(
      node,
      ['--import', path.join(ROOT, 'dist/libs/telemetry/src/register.js'), app.entry],
      {
        cwd: process.cwd(),
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      },
    );
    pipeWithPrefix(child.stdout, process.stdout, `[${app.name}]`);
    pipeWithPrefix(child.stderr, process.stderr, `[${app.name}]`);
    const closed = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        running.delete(app.name);
        const clean = CLEAN_EXIT_CODES.has(code) || CLEAN_EXIT_SIGNALS.has(signal);
        const how = signal ?? `code ${code}`;
        if (!shuttingDown) void shutdown(`${app.name} exited unexpectedly (${how}); stopping everything`, 1);
        else if (!clean) {
          say(`${app.name} exited with ${how}`);
          exitCode = 1;
        }
        resolve();
      });
    });
    child.once('error', (err) => {
      say(`could not start ${app.name}: ${err.message}`);
      void shutdown('stopping everything', 1);
    });
    running.set(app.name, { child, closed });
  }

  void announceWhenUp(urls, () => shuttingDown);
}

async function announceWhenUp(urls, stopped) {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && !stopped()) {
    try {
      const res = await fetch(urls.probe, { signal: AbortSignal.timeout(1000) });
      if (res.ok) {
        say(`API is up: ${urls.base}  (docs: ${urls.base}/docs)`);
        return;
      }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

const opts = parseArgs(process.argv.slice(2));
const dataDir = path.resolve(process.env.TK_DATA_DIR || '.data');
// Keys, the Redis password and the AOF live here: private to this user (children inherit the umask).
process.umask(0o077);
mkdirSync(dataDir, { recursive: true, mode: 0o700 });
chmodSync(dataDir, 0o700);
if (opts.redisOnly) {
  await runRedisOnly(dataDir).catch((err) => fail(err.message));
} else {
  await runApps(dataDir);
}
