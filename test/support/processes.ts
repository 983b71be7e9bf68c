import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './net.js';
import { waitFor } from './wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY = {
  api: 'dist/apps/api/src/main.js',
  worker: 'dist/apps/worker/src/main.js',
  agent: 'dist/apps/agent/src/main.js',
} as const;

/** A fixed test key: tests never depend on the development key file. */
export const TEST_ENCRYPTION_KEYS = `test1:${Buffer.alloc(32, 7).toString('base64url')}`;

/** The bootstrap admin key (namespace `default`) every test api gets unless its env overrides it. */
export const TEST_ADMIN_KEY = `tk_test-admin-${Buffer.alloc(24, 9).toString('base64url')}`;

/** The server key of the API-key HMAC (production refuses to start without one). */
export const TEST_API_KEY_HMAC_KEY = `test-api-key-hmac-${Buffer.alloc(24, 5).toString('base64url')}`;

/**
 * Security defaults for tests: the bootstrap admin key, and an outbound policy that lets the api
 * and workers reach the in-process OAuth server on http://127.0.0.1 (production refuses loopback
 * and plain http by default).
 */
export const TEST_SECURITY_ENV: Record<string, string> = {
  TK_BOOTSTRAP_ADMIN_KEY: TEST_ADMIN_KEY,
  TK_API_KEY_HMAC_KEY: TEST_API_KEY_HMAC_KEY,
  TK_OUTBOUND_ALLOW_LOOPBACK: '1',
  TK_OUTBOUND_ALLOW_HTTP_HOSTS: '127.0.0.1,localhost',
};

/**
 * The environment every test app process starts from (before its own settings): nothing of the
 * test runner's but PATH and HOME, the test key ring, info logs, the api on 127.0.0.1, and the
 * security defaults above.
 */
export const testAppEnv = (): Record<string, string> => ({
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '/tmp',
  TK_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
  TK_LOG_LEVEL: 'info',
  TK_API_HOST: '127.0.0.1',
  ...TEST_SECURITY_ENV,
});

const live = new Set<ChildProcess>();
const killAll = () => {
  for (const child of live) child.kill('SIGKILL');
};
// Vitest ends its workers with SIGTERM, which skips 'exit' handlers: clean up on signals too,
// then re-raise unless another handler (redis-server.ts has one) still will.
process.once('exit', killAll);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killAll();
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  });
}

export interface AppProcess {
  readonly name: string;
  readonly pid: number | undefined;
  /** Base URL for the api (undefined for a worker). */
  readonly url: string | undefined;
  /** Everything the process printed so far, across restarts. */
  logs(): string;
  /** SIGTERM and wait for the exit; resolves to the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
  /** Starts the same process again (same port and environment). */
  start(): Promise<void>;
  readonly exitCode: number | null;
}

/**
 * Starts a real tokenkeeper process from `dist/` (built by the test global setup) with the given
 * environment, and waits until it is ready: the api answers `/health/ready` with 200 (or with
 * anything at all when `until` is `'answering'`: an api expected not to be ready yet), a worker
 * logs that it started.
 */
export async function startApp(
  kind: keyof typeof ENTRY,
  env: Record<string, string>,
  label: string = kind,
  /** Command-line arguments (the agent's `--config <file>`). */
  args: readonly string[] = [],
  until: 'ready' | 'answering' = 'ready',
): Promise<AppProcess> {
  const port = kind === 'api' ? Number(env.TK_API_PORT ?? (await freePort())) : undefined;
  const fullEnv: Record<string, string> = {
    ...testAppEnv(),
    // `npm run test:cluster`: spread the feed over 4 partitions, so slots on every node are used.
    ...(process.env.TK_TEST_CLUSTER === '1' ? { TK_PARTITIONS: '4' } : {}),
    ...env,
    ...(port !== undefined ? { TK_API_PORT: String(port) } : {}),
  };
  let output = '';
  let child: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);
  let exitCode: number | null = null;

  const launch = async () => {
    exitCode = null;
    const started = output.length;
    const c = spawn(process.execPath, [ENTRY[kind], ...args], {
      cwd: ROOT,
      env: fullEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    live.add(c);
    c.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    c.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    exited = new Promise((resolve) =>
      c.once('exit', (code) => {
        live.delete(c);
        exitCode = code;
        resolve(code);
      }),
    );
    await waitFor(
      async () => {
        if (c.exitCode !== null)
          throw new Error(`${label} exited with ${c.exitCode}:\n${output.slice(-3000)}`);
        if (kind === 'worker' || kind === 'agent') return output.slice(started).includes(`"${kind} started"`);
        const res = await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => undefined);
        return until === 'answering' ? res !== undefined : res?.status === 200;
      },
      { timeoutMs: 30_000, intervalMs: 100, message: `${label} ready` },
    );
  };

  await launch();
  return {
    name: label,
    get pid() {
      return child?.pid;
    },
    url: port !== undefined ? `http://127.0.0.1:${port}` : undefined,
    logs: () => output,
    get exitCode() {
      return exitCode;
    },
    async stop(timeoutMs = 20_000) {
      if (!child || child.exitCode !== null) return child?.exitCode ?? null;
      const c = child;
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      if (!child || child.exitCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    start: launch,
  };
}

/**
 * Runs a built app that must not start (bad configuration) until it exits, with what it printed.
 * `env` is all it gets besides PATH and the test key ring; SIGKILL after 30 s.
 */
export function runToExit(
  kind: 'api' | 'worker',
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [ENTRY[kind]], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', TK_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    }),
  );
}

const REQUEST_TIMEOUT_MS = 30_000;

/**
 * A small JSON client for the API under test. It authenticates with TEST_ADMIN_KEY unless
 * `headers` says otherwise (pass `{ authorization: '' }` to send no key at all).
 */
export function apiClient(baseUrl: string, extraHeaders: Record<string, string> = {}) {
  const headers = Object.fromEntries(
    Object.entries({ authorization: `Bearer ${TEST_ADMIN_KEY}`, ...extraHeaders }).filter(
      ([, v]) => v !== '',
    ),
  );
  const call = async <T = unknown>(method: string, path: string, body?: unknown) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      // A hung process must fail the test, not hang it.
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    const json = text ? (JSON.parse(text) as T) : (undefined as T);
    return { status: res.status, headers: res.headers, body: json };
  };
  /** Sends a body exactly as given (malformed JSON, odd content types), with the client's default headers. */
  const raw = async (
    method: string,
    path: string,
    body: string | Uint8Array | undefined,
    extra: Record<string, string>,
  ) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { ...headers, ...extra },
      ...(body !== undefined ? { body } : {}),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = text;
    }
    return { status: res.status, headers: res.headers, body: json as Record<string, unknown> };
  };
  return {
    raw,
    get: <T = unknown>(path: string) => call<T>('GET', path),
    post: <T = unknown>(path: string, body?: unknown) => call<T>('POST', path, body ?? {}),
    patch: <T = unknown>(path: string, body: unknown) => call<T>('PATCH', path, body),
    delete: <T = unknown>(path: string) => call<T>('DELETE', path),
  };
}
