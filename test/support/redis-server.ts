/**
 * A real, throw-away `redis-server` per test suite (never a mock).
 *
 * Each server is a child process of the test process on 127.0.0.1 with `--save ''` and
 * `--hz 100` (so delayed BullMQ jobs start within ~10 ms), optionally with AOF
 * (`appendonly yes`, `appendfsync always`) so `kill()` + `restart()` keeps every
 * acknowledged write. Children are killed when the test process exits, and a tiny `sh`
 * watchdog kills them too if the test process dies without running exit handlers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, redisPing } from './net.js';
import { sleep } from './wait.js';

/** Path of the Redis binary; override with `REDIS_SERVER_BIN`. */
export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';

export interface StartRedisOptions {
  /** Turn on AOF persistence with `appendfsync always` (default false). */
  appendonly?: boolean;
  /** Data directory; a fresh temp dir (removed at process exit) when omitted. */
  dir?: string;
  /** Port on 127.0.0.1; a free one when omitted. */
  port?: number;
  /** How long to wait for the first `PONG` (default 10 000 ms). */
  startTimeoutMs?: number;
  /** More `redis-server` arguments (the cluster support adds `--cluster-enabled yes` ...). */
  extraArgs?: string[];
}

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Data directory (AOF lives in `<dir>/appendonlydir`). */
  readonly dir: string;
  /** Pid of the current child (changes on `restart()`). */
  readonly pid: number;
  readonly appendonly: boolean;
  /** True while the child is alive. */
  readonly running: boolean;
  /** Graceful stop (SIGTERM, SIGKILL after 5 s); resolves when the child is gone. No-op if stopped. */
  stop(): Promise<void>;
  /** Hard crash: SIGKILL, resolves when the child is gone. No-op if stopped. */
  kill(): Promise<void>;
  /** Starts again on the same port and dir (stopping gracefully first if still running); waits for PING. */
  restart(): Promise<void>;
  /** `stop()` and remove the data dir if this module created it. */
  destroy(): Promise<void>;
  /** Last lines of the server's log (stdout/stderr), for failure messages. */
  logs(): string;
}

const live = new Set<RedisProcess>();
const tempDirs = new Set<string>();
let exitHookInstalled = false;

function cleanupSync(): void {
  for (const server of live) server.killSync();
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  tempDirs.clear();
}

/**
 * Kills every child on process exit. Vitest's `forks` pool ends workers with SIGTERM,
 * which skips `exit` handlers, so termination signals clean up too and are then re-raised
 * (unless someone else handles them) to keep the default behaviour.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', cleanupSync);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      cleanupSync();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

/** Starts a watchdog that SIGKILLs `childPid` as soon as this process is gone. */
function startWatchdog(childPid: number): ChildProcess {
  const script = `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${childPid} 2>/dev/null; do sleep 0.5; done; kill -9 ${childPid} 2>/dev/null`;
  const watchdog = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  watchdog.unref();
  return watchdog;
}

class RedisProcess implements RedisServer {
  private child: ChildProcess | undefined;
  private watchdog: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private logLines: string[] = [];

  constructor(
    readonly port: number,
    readonly dir: string,
    readonly appendonly: boolean,
    private readonly ownsDir: boolean,
    private readonly startTimeoutMs: number,
    private readonly extraArgs: string[] = [],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  logs(): string {
    return this.logLines.join('\n');
  }

  private args(): string[] {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--protected-mode',
      'no',
      '--daemonize',
      'no',
      '--save',
      '',
      '--hz',
      '100',
      '--dir',
      this.dir,
      '--logfile',
      '',
      '--enable-debug-command',
      'local',
      '--appendonly',
      this.appendonly ? 'yes' : 'no',
    ];
    if (this.appendonly) args.push('--appendfsync', 'always');
    args.push(...this.extraArgs);
    return args;
  }

  private record(chunk: Buffer): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim()) this.logLines.push(line);
    }
    if (this.logLines.length > 200) this.logLines.splice(0, this.logLines.length - 200);
  }

  /** Spawns the child and waits for PONG; rejects (and cleans up) if it exits or times out. */
  async start(): Promise<void> {
    if (this.child) throw new Error(`redis on port ${this.port} is already running`);
    installExitHook();
    const child = spawn(REDIS_SERVER_BIN, this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (c: Buffer) => this.record(c));
    child.stderr?.on('data', (c: Buffer) => this.record(c));
    let exitedEarly: string | undefined;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitedEarly = `exited with code ${code} signal ${signal}`;
        if (this.child === child) {
          this.child = undefined;
          live.delete(this);
          this.stopWatchdog();
        }
        resolve();
      });
      child.once('error', (err) => {
        exitedEarly = `failed to spawn ${REDIS_SERVER_BIN}: ${err.message}`;
        if (this.child === child) {
          this.child = undefined;
          live.delete(this);
          this.stopWatchdog();
        }
        resolve();
      });
    });
    // Never keep the test process alive because of the server; the exit hook kills it.
    child.unref();
    (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
    this.child = child;
    live.add(this);
    if (child.pid) this.watchdog = startWatchdog(child.pid);

    const deadline = Date.now() + this.startTimeoutMs;
    while (Date.now() < deadline) {
      if (exitedEarly) break;
      if (await redisPing(this.port)) return;
      await sleep(20);
    }
    const reason = exitedEarly ?? `no PONG within ${this.startTimeoutMs} ms`;
    await this.kill();
    throw new Error(`redis-server on 127.0.0.1:${this.port} did not start (${reason}). Log:\n${this.logs()}`);
  }

  private stopWatchdog(): void {
    const wd = this.watchdog;
    this.watchdog = undefined;
    if (wd?.pid) {
      try {
        process.kill(wd.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  private async signal(sig: NodeJS.Signals, graceMs: number): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(sig);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut && this.child === child) {
      child.kill('SIGKILL');
      await this.exited;
    }
  }

  stop(): Promise<void> {
    return this.signal('SIGTERM', 5000);
  }

  kill(): Promise<void> {
    return this.signal('SIGKILL', 5000);
  }

  /** Synchronous SIGKILL for the process `exit` hook. */
  killSync(): void {
    this.stopWatchdog();
    try {
      this.child?.kill('SIGKILL');
    } catch {
      // already gone
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async destroy(): Promise<void> {
    await this.stop();
    if (this.ownsDir) {
      rmSync(this.dir, { recursive: true, force: true });
      tempDirs.delete(this.dir);
    }
  }
}

/**
 * Spawns a fresh `redis-server` on 127.0.0.1 and resolves once it answers PING.
 * Without `port`, a free port is picked (retried up to 3 times if another process grabs it).
 */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  // `npm run test:cluster`: the same suites against a local 3-master Redis Cluster.
  if (process.env.TK_TEST_CLUSTER === '1' && !opts.extraArgs) {
    const { startRedisCluster } = await import('./redis-cluster.js');
    return startRedisCluster(opts);
  }
  const appendonly = opts.appendonly ?? false;
  const startTimeoutMs = opts.startTimeoutMs ?? 10_000;
  let dir = opts.dir;
  const ownsDir = dir === undefined;
  if (dir === undefined) {
    dir = await mkdtemp(join(tmpdir(), 'tkt-redis-'));
    tempDirs.add(dir);
    installExitHook();
  }
  const attempts = opts.port === undefined ? 3 : 1;
  let lastError: unknown;
  for (let i = 0; i < attempts; i += 1) {
    const port = opts.port ?? (await freePort());
    const server = new RedisProcess(port, dir, appendonly, ownsDir, startTimeoutMs, opts.extraArgs);
    try {
      await server.start();
      return server;
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

/**
 * A fresh random key prefix such as `tkt-queue-3f9a1c2b7d4e`, safe for BullMQ prefixes and
 * key names: only `[A-Za-z0-9_-]`, never `:` or braces (add a hash tag yourself for Cluster).
 */
export function uniquePrefix(name: string): string {
  const clean = name.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '') || 'x';
  return `tkt-${clean}-${randomBytes(6).toString('hex')}`;
}
