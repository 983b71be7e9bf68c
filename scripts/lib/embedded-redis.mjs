// Embedded Redis for development: locate/install `redis-server`, start it as a child process with
// its data (append-only file) under the data dir, talk to it with a tiny RESP client, stop it cleanly.
// It listens on 127.0.0.1 only and requires a password generated on first start and kept in
// `<dir>/password`; the directory is 0700 and every file in it 0600 (umask 077 for redis-server).
// Node built-ins only, so it runs before `npm install` has produced anything but the Node binary.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  chmodSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const DEFAULT_EMBEDDED_REDIS_PORT = 6380;
const EXTRA_BIN_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/opt/homebrew/bin'];
const STATE_FILE = 'embedded-redis.json';
const PASSWORD_FILE = 'password';
const CONF_FILE = 'redis.conf';

let logPrefix = '[start]';
export const setLogPrefix = (prefix) => {
  logPrefix = prefix;
};
/** Writes a launcher message (never to stdout, which carries the children's output and REDIS_URL). */
export const say = (msg) => process.stderr.write(`${logPrefix} ${msg}\n`);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Finds an executable in PATH, then in the usual system directories. */
export function findExecutable(name) {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...EXTRA_BIN_DIRS];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export const findRedisServer = () => findExecutable('redis-server');

export function printRedisInstallHelp() {
  say(
    'redis-server was not found (looked in PATH, /usr/sbin, /usr/bin, /usr/local/bin). Get it with one of:',
  );
  say('  Debian/Ubuntu:  sudo apt-get install -y redis-server');
  say('  macOS:          brew install redis');
  say('  this repo:      npm run setup   (installs it via apt-get when run as root)');
  say('or point tokenkeeper at an existing Redis: REDIS_URL=redis://host:6379 npm start');
}

function aptGet(args) {
  const r = spawnSync('apt-get', args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return r.status === 0;
}

/**
 * Returns the path of redis-server, installing it with apt-get when it is missing and we are root
 * (after saying so). Returns undefined, after printing how to get it, when that is not possible.
 */
export function ensureRedisServer() {
  const found = findRedisServer();
  if (found) return found;
  printRedisInstallHelp();
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !findExecutable('apt-get')) return undefined;
  say(
    'running as root with apt-get available: installing redis-server now (apt-get install -y redis-server)',
  );
  if (!aptGet(['install', '-y', 'redis-server'])) {
    say('install failed; refreshing the package lists (apt-get update) and trying again');
    if (!aptGet(['update']) || !aptGet(['install', '-y', 'redis-server'])) {
      say('apt-get could not install redis-server');
      return undefined;
    }
  }
  const installed = findRedisServer();
  if (installed) say(`installed ${installed}`);
  return installed;
}

// --- a minimal RESP client: enough for PING, CONFIG GET and INFO ------------------------------------

function parseReply(buf, start = 0) {
  const eol = buf.indexOf('\r\n', start);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[start]);
  const line = buf.toString('utf8', start + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new Error(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, end: next };
      if (buf.length < next + len + 2) return undefined;
      return { value: buf.toString('utf8', next, next + len), end: next + len + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end: next };
      const items = [];
      let pos = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, pos);
        if (!item) return undefined;
        items.push(item.value);
        pos = item.end;
      }
      return { value: items, end: pos };
    }
    default:
      throw new Error(`not a RESP reply (starts with ${JSON.stringify(type)})`);
  }
}

const encode = (args) =>
  `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

/**
 * Sends one command to 127.0.0.1:port and resolves with its reply (an Error value for `-ERR`).
 * With `password`, signs in first (AUTH); a refused AUTH is the reply.
 */
export function redisCommand(port, args, { host = '127.0.0.1', timeoutMs = 1000, password } = {}) {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let authenticated = password === undefined;
    const socket = net.connect({ host, port });
    const done = (err, value) => {
      socket.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    socket.setTimeout(timeoutMs, () =>
      done(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`)),
    );
    socket.on('error', (err) => done(err));
    socket.on('connect', () => {
      socket.write(password === undefined ? encode(args) : encode(['AUTH', password]) + encode(args));
    });
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      try {
        let reply = parseReply(buf);
        if (reply && !authenticated) {
          if (reply.value instanceof Error) return done(undefined, reply.value);
          authenticated = true;
          buf = buf.subarray(reply.end);
          reply = parseReply(buf);
        }
        if (reply) done(undefined, reply.value);
      } catch (err) {
        done(err);
      }
    });
    socket.on('end', () => done(new Error(`connection to ${host}:${port} closed before a reply`)));
  });
}

/** True when something accepts connections on 127.0.0.1:port (or the port cannot be bound). */
function isPortTaken(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(true));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(false)));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const samePath = (a, b) => {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return path.resolve(a) === path.resolve(b);
  }
};

/** True when a Redis answers on the port to our password and keeps its data in `dir`, i.e. it is our embedded Redis. */
async function isOurRedis(port, dir, password) {
  try {
    const reply = await redisCommand(port, ['CONFIG', 'GET', 'dir'], { timeoutMs: 500, password });
    if (reply instanceof Error && /without any password configured/i.test(reply.message)) {
      const unprotected = await redisCommand(port, ['CONFIG', 'GET', 'dir'], { timeoutMs: 500 });
      if (Array.isArray(unprotected) && typeof unprotected[1] === 'string' && samePath(unprotected[1], dir)) {
        throw new Error(
          `an embedded Redis of an earlier version, without a password, still serves ${dir} on port ${port}: stop it (redis-cli -p ${port} shutdown) and start again`,
        );
      }
    }
    return Array.isArray(reply) && typeof reply[1] === 'string' && samePath(reply[1], dir);
  } catch (err) {
    if (err.message?.startsWith('an embedded Redis of an earlier version')) throw err;
    return false;
  }
}

/** The password of the embedded Redis in `dir`: generated on first start, kept in `<dir>/password` (0600). */
function embeddedRedisPassword(dir) {
  const file = path.join(dir, PASSWORD_FILE);
  if (!existsSync(file)) {
    try {
      writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
  }
  return readFileSync(file, 'utf8').trim();
}

/** `redis://:<password>@127.0.0.1:<port>`: what the apps are given. */
const urlOf = (port, password) => `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}`;

function readState(dir) {
  try {
    return JSON.parse(readFileSync(path.join(dir, STATE_FILE), 'utf8'));
  } catch {
    return undefined;
  }
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Waits until PING answers PONG (not -LOADING while the AOF is replayed). */
async function waitForPong(port, { timeoutMs, isDead, password }) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (isDead?.()) return { ok: false, reason: 'redis-server exited' };
    try {
      const reply = await redisCommand(port, ['PING'], { timeoutMs: 500, password });
      if (reply === 'PONG') return { ok: true };
      last = reply instanceof Error ? reply.message : String(reply);
    } catch (err) {
      last = err.message;
    }
    await sleep(50);
  }
  return { ok: false, reason: `no PONG within ${timeoutMs} ms (${last})` };
}

function tail(file, lines = 15) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Starts (or re-attaches to) the embedded Redis whose data lives in `dir`.
 * Resolves with { url, port, dir, owned, child?, stop(), onUnexpectedExit(cb) }.
 * `owned` is false when a Redis already serving this data dir was found (a leftover of an earlier
 * run); it is used as is and left running, since two servers must never share one AOF.
 */
export async function startEmbeddedRedis({ dir, port: wantedPort = DEFAULT_EMBEDDED_REDIS_PORT }) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const password = embeddedRedisPassword(dir);

  // 1. A Redis from an earlier run that still serves this directory (on whatever port it got).
  const state = readState(dir);
  const candidates = [...new Set([state?.port, wantedPort].filter((p) => Number.isInteger(p) && p > 0))];
  for (const p of candidates) {
    if ((await isOurRedis(p, dir, password)) && (await waitForPong(p, { timeoutMs: 30_000, password })).ok) {
      say(`reusing the embedded Redis already running on port ${p} for ${dir} (left running on exit;`);
      say(
        `stop it with: REDISCLI_AUTH="$(cat ${path.join(dir, PASSWORD_FILE)})" redis-cli -p ${p} shutdown)`,
      );
      return attached(p, dir, password);
    }
  }

  // 2. Start our own, on the wanted port unless something else holds it.
  const redisServer = ensureRedisServer();
  if (!redisServer) throw new Error('redis-server is not installed');

  let port = wantedPort;
  if (!port || (await isPortTaken(port))) {
    const taken = port;
    port = await freePort();
    if (taken) say(`port ${taken} is taken by something else; the embedded Redis uses port ${port}`);
  }

  const logFile = path.join(dir, 'redis.log');
  // The password goes into a 0600 config file, not the command line (which `ps` shows to everyone).
  const confFile = path.join(dir, CONF_FILE);
  writeFileSync(confFile, `requirepass ${password}\n`, { mode: 0o600 });
  chmodSync(confFile, 0o600);
  const args = [
    confFile,
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--protected-mode',
    'yes',
    '--dir',
    dir,
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--hz',
    '100',
    '--save',
    '',
    '--maxmemory-policy',
    'noeviction',
    '--daemonize',
    'no',
    '--pidfile',
    path.join(dir, 'redis.pid'),
    '--logfile',
    logFile,
  ];
  // Own process group: a Ctrl-C in the terminal reaches only the launcher, which stops Redis last,
  // after the apps have closed their connections.
  // umask 077 while spawning (the child inherits it): the AOF, the log and the pid file are 0600.
  const umask = process.umask(0o077);
  let child;
  try {
    child = spawn(redisServer, args, { stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  } finally {
    process.umask(umask);
  }
  let exited = false;
  const exitWaiters = [];
  const exitInfo = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      resolve({ code, signal });
      for (const cb of exitWaiters) cb({ code, signal });
    });
    child.once('error', (err) => {
      exited = true;
      resolve({ code: null, signal: null, error: err });
      for (const cb of exitWaiters) cb({ code: null, signal: null, error: err });
    });
  });

  const ready = await waitForPong(port, { timeoutMs: 60_000, isDead: () => exited, password });
  if (!ready.ok) {
    if (!exited) child.kill('SIGKILL');
    const log = tail(logFile);
    throw new Error(
      `embedded Redis did not start: ${ready.reason}${log ? `\n--- ${logFile} ---\n${log}` : ''}`,
    );
  }
  writeFileSync(path.join(dir, STATE_FILE), `${JSON.stringify({ pid: child.pid, port, dir }, null, 2)}\n`, {
    mode: 0o600,
  });

  let stopping;
  return {
    url: urlOf(port, password),
    passwordFile: path.join(dir, PASSWORD_FILE),
    port,
    dir,
    owned: true,
    pid: child.pid,
    logFile,
    /** Registers a callback for an exit that was not asked for. */
    onUnexpectedExit(cb) {
      exitWaiters.push((info) => {
        if (!stopping) cb(info);
      });
    },
    /** SIGTERM makes redis-server fsync the AOF and exit; SIGKILL only after `timeoutMs`. */
    stop({ timeoutMs = 15_000 } = {}) {
      stopping ??= (async () => {
        if (!exited) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => {
            if (!exited) {
              say(`embedded Redis did not stop within ${timeoutMs} ms; killing it`);
              child.kill('SIGKILL');
            }
          }, timeoutMs);
          await exitInfo;
          clearTimeout(timer);
        }
        rmSync(path.join(dir, STATE_FILE), { force: true });
        return exitInfo;
      })();
      return stopping;
    },
  };
}

function attached(port, dir, password) {
  const pid = readState(dir)?.pid;
  return {
    url: urlOf(port, password),
    passwordFile: path.join(dir, PASSWORD_FILE),
    port,
    dir,
    owned: false,
    pid: pid && pidAlive(pid) ? pid : undefined,
    onUnexpectedExit() {},
    async stop() {
      return { code: 0, signal: null };
    },
  };
}
