import { readFileSync, realpathSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { type BackoffPolicy, DEFAULT_BACKOFF, DEFAULT_REFRESH_POLICY, type RefreshPolicy } from '#core';
import { fileSourceDirProblem, splitFileSourceDirs } from './file-source-policy.js';

/** A setting that cannot be used; the message names the variable so the operator knows what to fix. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const bool = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', ''])
  .transform((v) => v === '1' || v === 'true' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const num = (min: number, max: number) => z.coerce.number().min(min).max(max);

const envSchema = z.object({
  // `redis+cluster://host:port[,host:port...]` (or `rediss+cluster://`) selects a Redis Cluster.
  REDIS_URL: z
    .string()
    .refine(
      (v) =>
        /^rediss?\+cluster:\/\/([^@/]*@)?[^,/@]+:\d+(,[^,/@]+:\d+)*\/?$/.test(v) ||
        z.url().safeParse(v).success,
      'a redis:// URL, or redis+cluster://host:port[,host:port...] for a Redis Cluster',
    )
    .default('redis://127.0.0.1:6379'),
  // A file holding the password of REDIS_URL's user (read once at boot; the URL then carries no secret).
  REDIS_PASSWORD_FILE: z.string().min(1).optional(),
  TK_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,40}$/, 'letters, digits, "-" or "_" only')
    .default('tk'),
  TK_PARTITIONS: int(1, 1024).default(1),
  TK_DEV_MODE: bool.default(false),
  TK_DATA_DIR: z.string().min(1).default('./.data'),
  TK_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TK_API_HOST: z.string().min(1).default('0.0.0.0'),
  TK_API_PORT: int(0, 65535).default(8080),
  TK_API_BODY_LIMIT_BYTES: int(1024, 10 * 1024 * 1024).default(256 * 1024),
  TK_ENCRYPTION_KEYS: z.string().optional(),
  TK_ENCRYPTION_KEYS_FILE: z.string().optional(),
  TK_ENCRYPTION_PRIMARY: z.string().optional(),
  TK_WORKER_CONCURRENCY: int(1, 1000).default(50),
  TK_JOB_LOCK_MS: int(1_000, 600_000).default(30_000),
  // Worker health server (`/health/live`, `/health/ready`); port 0 leaves it off.
  TK_WORKER_HEALTH_PORT: int(0, 65535).default(0),
  TK_WORKER_HEALTH_HOST: z.string().min(1).default('0.0.0.0'),
  TK_SHUTDOWN_TIMEOUT_MS: int(1_000, 600_000).default(20_000),
  TK_REFRESH_FRACTION: num(0.01, 0.9).default(DEFAULT_REFRESH_POLICY.fraction),
  TK_REFRESH_MIN_BUFFER_SECONDS: num(0, 86_400).default(DEFAULT_REFRESH_POLICY.minBufferMs / 1000),
  TK_REFRESH_MAX_BUFFER_SECONDS: num(0, 7 * 86_400).default(DEFAULT_REFRESH_POLICY.maxBufferMs / 1000),
  TK_DEFAULT_LIFETIME_SECONDS: num(1, 365 * 86_400).default(DEFAULT_REFRESH_POLICY.defaultLifetimeMs / 1000),
  TK_BACKOFF_BASE_MS: int(10, 600_000).default(DEFAULT_BACKOFF.baseMs),
  TK_BACKOFF_CAP_MS: int(100, 3_600_000).default(DEFAULT_BACKOFF.capMs),
  TK_GRANT_TIMEOUT_MS: int(100, 120_000).default(10_000),
  TK_LEASE_TTL_MS: int(1_000, 600_000).default(30_000),
  // Hard deadline for a grant's answer once its request was sent (default: the lease TTL).
  TK_GRANT_DEADLINE_MS: int(100, 600_000).optional(),
  // Replicas an append storing a rotated refresh token waits for (`WAIT`); 0: none.
  TK_REDIS_WAIT_REPLICAS: int(0, 100).default(0),
  TK_REDIS_WAIT_TIMEOUT_MS: int(1, 60_000).default(1_000),
  // The fallback after a failed refresh serves a cached token only with at least this much left.
  TK_FALLBACK_MIN_TTL_MS: int(0, 3_600_000).default(5_000),
  TK_TOKEN_WAIT_MS: int(100, 120_000).default(10_000),
  TK_SWEEP_INTERVAL_MS: int(1_000, 3_600_000).default(60_000),
  TK_FEED_MAXLEN: int(1_000, 100_000_000).default(1_000_000),
  TK_FEED_RETENTION_HOURS: num(0, 8_760).default(24),
  TK_HISTORY_MAXLEN: int(10, 1_000_000).default(100),
  TK_READY_CRITICAL_CREDENTIALS: z
    .string()
    .regex(
      /^\s*cred_[A-Za-z0-9_-]{10,64}(\s*,\s*cred_[A-Za-z0-9_-]{10,64})*\s*$/,
      'a comma-separated list of credential ids',
    )
    .optional(),
  TK_READY_MAX_FEED_LAG: int(0, 100_000_000).default(10_000),
  TK_WEBHOOK_TIMEOUT_MS: int(100, 120_000).default(10_000),
  TK_WEBHOOK_ATTEMPTS: int(1, 100).default(12),
  TK_WEBHOOK_BACKOFF_MS: int(10, 3_600_000).default(1_000),
  TK_WEBHOOK_MAX_RESPONSE_BYTES: int(0, 10 * 1024 * 1024).default(64 * 1024),
  TK_WEBHOOK_CONCURRENCY: int(1, 1000).default(20),
  TK_EVENT_STREAM_HEARTBEAT_MS: int(100, 600_000).default(15_000),
  TK_EVENT_STREAM_MAX_STREAMS: int(1, 100_000).default(500),
  // Bounds and fairness between namespaces (issue 10).
  TK_EVENT_STREAM_MAX_STREAMS_PER_NAMESPACE: int(1, 100_000).default(100),
  TK_RATE_LIMIT_READ_PER_SECOND: num(0, 1_000_000).default(1_000),
  TK_RATE_LIMIT_READ_BURST: int(1, 10_000_000).default(2_000),
  TK_TOKEN_READ_REFRESH_INTERVAL_MS: int(0, 3_600_000).default(30_000),
  TK_TOKEN_MIN_TTL_MAX_FRACTION: num(0.05, 1).default(0.5),
  TK_WEBHOOK_MAX_SUBSCRIPTIONS_PER_NAMESPACE: int(1, 100_000).default(100),
  // Security (issue 3): API keys, rate limits, re-encryption, outbound URL policy.
  TK_BOOTSTRAP_ADMIN_KEY: z.string().min(20, 'use at least 20 characters').max(512).optional(),
  TK_BOOTSTRAP_ADMIN_KEY_FILE: z.string().min(1).optional(),
  TK_API_KEY_CACHE_MS: int(0, 1_000).default(500),
  // The server key under which API keys are stored (HMAC) and their records authenticated.
  TK_API_KEY_HMAC_KEY: z.string().min(32, 'use at least 32 characters').max(512).optional(),
  TK_API_KEY_HMAC_KEY_FILE: z.string().min(1).optional(),
  TK_MIGRATE_API_KEYS: bool.default(false),
  TK_PUBLIC_DOCS: bool.default(false),
  TK_RATE_LIMIT_TOKEN_PER_SECOND: num(0, 1_000_000).default(2_000),
  TK_RATE_LIMIT_TOKEN_BURST: int(1, 10_000_000).default(4_000),
  TK_RATE_LIMIT_WRITE_PER_SECOND: num(0, 1_000_000).default(500),
  TK_RATE_LIMIT_WRITE_BURST: int(1, 10_000_000).default(2_000),
  TK_REENCRYPT_INTERVAL_MS: int(1_000, 86_400_000).default(600_000),
  TK_OUTBOUND_ALLOW_HTTP_HOSTS: z.string().max(4096).optional(),
  TK_OUTBOUND_ALLOW_PRIVATE: bool.default(false),
  TK_OUTBOUND_ALLOW_LOOPBACK: bool.default(false),
  TK_OUTBOUND_ALLOW_CIDRS: z.string().max(4096).optional(),
  TK_OUTBOUND_TIMEOUT_MS: int(100, 300_000).default(30_000),
  TK_OUTBOUND_MAX_RESPONSE_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  // Directories credentials may read token files from (`jwtFile`, `subjectTokenFile`); none by default.
  TK_FILE_SOURCE_DIRS: z.string().max(16_384).optional(),
});

/** Every environment variable the apps read (manifests are checked against it). */
export const CONFIG_ENV_NAMES: readonly string[] = Object.keys(envSchema.shape);

export interface AppConfig {
  redisUrl: string;
  redisPrefix: string;
  partitions: number;
  devMode: boolean;
  dataDir: string;
  logLevel: z.infer<typeof envSchema>['TK_LOG_LEVEL'];
  api: { host: string; port: number; bodyLimitBytes: number };
  encryption: { keys?: string; keysFile?: string; primary?: string };
  /**
   * `lockMs`: how long a job stays locked to a worker that stopped answering before another takes it.
   * `healthPort` 0: no health server.
   */
  worker: { concurrency: number; lockMs: number; healthPort: number; healthHost: string };
  /** After SIGTERM/SIGINT: how long a process may take to finish in-flight work before it exits 1. */
  shutdownTimeoutMs: number;
  refreshPolicy: RefreshPolicy;
  backoff: BackoffPolicy;
  grantTimeoutMs: number;
  /** Hard deadline for an answer once a grant request was sent; at least `grantTimeoutMs`. */
  grantDeadlineMs: number;
  leaseTtlMs: number;
  /** `WAIT` after appends that store a rotated refresh token. */
  redisWait: { replicas: number; timeoutMs: number };
  /** Least remaining lifetime of a cached token served after a failed refresh. */
  tokenFallbackMinTtlMs: number;
  tokenWaitMs: number;
  sweepIntervalMs: number;
  feedMaxLen: number;
  /** Feed entries older than this are trimmed on append (TK_FEED_RETENTION_HOURS; 0: length cap only). */
  feedRetentionMs: number;
  historyMaxLen: number;
  /** Credentials without which the api reports not ready (`/health/ready` 503). */
  readyCriticalCredentials: string[];
  /** Feed entries not yet handled by the `webhooks` consumer group (lag + pending) above which readiness is down. */
  readyMaxFeedLag: number;
  security: SecurityConfig;
  /** Webhook deliveries: per-request timeout, BullMQ attempts with exponential backoff from `backoffMs`. */
  webhooks: {
    timeoutMs: number;
    attempts: number;
    backoffMs: number;
    maxResponseBytes: number;
    concurrency: number;
  };
  /**
   * Server-sent event streams: heartbeat period and the most concurrent streams one api process
   * serves, in all and per namespace (so one namespace cannot take every stream).
   */
  eventStream: { heartbeatMs: number; maxStreams: number; maxStreamsPerNamespace: number };
  /**
   * Token reads: at most one read-triggered refresh per credential per `readRefreshIntervalMs`
   * across all api processes (0: no limit); `minTtl` capped at `minTtlMaxFraction` of the lifetime.
   */
  tokenReads: { readRefreshIntervalMs: number; minTtlMaxFraction: number };
  /** Most webhook subscriptions one namespace may have. */
  maxSubscriptionsPerNamespace: number;
  /** Directories (absolute, normalized) credentials may take token files from; empty: file sources refused. */
  fileSources: { dirs: string[] };
}

export interface SecurityConfig {
  /** An admin key for namespace `default`, accepted as given (never stored). */
  bootstrapAdminKey?: string;
  /** A file holding the bootstrap admin key (TK_BOOTSTRAP_ADMIN_KEY_FILE). */
  bootstrapAdminKeyFile?: string;
  /** The server key of the API-key HMAC, given directly or as a file (one of them in production). */
  apiKeyHmacKey?: string;
  apiKeyHmacKeyFile?: string;
  /** Rewrite legacy (plain SHA-256) API key records as HMAC records at boot (TK_MIGRATE_API_KEYS). */
  migrateApiKeys: boolean;
  /** Serve /docs and /docs-json without an API key (TK_PUBLIC_DOCS). */
  publicDocs: boolean;
  /** How long a verified API key is trusted without asking Redis again; bounds revocation delay. */
  apiKeyCacheMs: number;
  /** Per-key token buckets; a rate of 0 switches the limit off. */
  rateLimits: {
    token: { perSecond: number; burst: number };
    write: { perSecond: number; burst: number };
    /** Every other GET (listing, reading a credential, events): higher than writes, in-process. */
    read: { perSecond: number; burst: number };
  };
  reencryptIntervalMs: number;
  outbound: OutboundSettings;
}

export interface OutboundSettings {
  /** Hosts (names or addresses, lower case) that may be called over plain http. */
  allowHttpHosts: string[];
  allowPrivate: boolean;
  allowLoopback: boolean;
  /** CIDRs allowed even when private or loopback (never link-local or metadata). */
  allowCidrs: string[];
  timeoutMs: number;
  maxResponseBytes: number;
}

/** Reads and validates the environment once, at boot. Unknown values stop the process with the variable's name. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const known = Object.fromEntries(
    Object.keys(envSchema.shape)
      .filter((k) => env[k] !== undefined && env[k] !== '')
      .map((k) => [k, env[k]]),
  );
  const parsed = envSchema.safeParse(known);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  if (e.TK_REFRESH_MIN_BUFFER_SECONDS > e.TK_REFRESH_MAX_BUFFER_SECONDS) {
    throw new ConfigError(
      'invalid configuration: TK_REFRESH_MIN_BUFFER_SECONDS exceeds TK_REFRESH_MAX_BUFFER_SECONDS',
    );
  }
  if (e.TK_LEASE_TTL_MS <= e.TK_GRANT_TIMEOUT_MS) {
    // A lease that can lapse while its holder still waits for the provider lets a second worker
    // present the same refresh token, which makes rotating providers revoke the grant.
    throw new ConfigError('invalid configuration: TK_LEASE_TTL_MS must exceed TK_GRANT_TIMEOUT_MS');
  }
  if (e.TK_SHUTDOWN_TIMEOUT_MS <= e.TK_GRANT_TIMEOUT_MS) {
    // A worker must be able to wait for a provider call it started: abandoning one after a rotating
    // provider answered would lose the new refresh token.
    throw new ConfigError('invalid configuration: TK_SHUTDOWN_TIMEOUT_MS must exceed TK_GRANT_TIMEOUT_MS');
  }
  return {
    redisUrl: redisUrlWithPassword(e.REDIS_URL, e.REDIS_PASSWORD_FILE),
    redisPrefix: e.TK_REDIS_PREFIX,
    partitions: e.TK_PARTITIONS,
    devMode: e.TK_DEV_MODE,
    dataDir: e.TK_DATA_DIR,
    logLevel: e.TK_LOG_LEVEL,
    api: { host: e.TK_API_HOST, port: e.TK_API_PORT, bodyLimitBytes: e.TK_API_BODY_LIMIT_BYTES },
    encryption: {
      ...(e.TK_ENCRYPTION_KEYS ? { keys: e.TK_ENCRYPTION_KEYS } : {}),
      ...(e.TK_ENCRYPTION_KEYS_FILE ? { keysFile: e.TK_ENCRYPTION_KEYS_FILE } : {}),
      ...(e.TK_ENCRYPTION_PRIMARY ? { primary: e.TK_ENCRYPTION_PRIMARY } : {}),
    },
    worker: {
      concurrency: e.TK_WORKER_CONCURRENCY,
      // A job's lock never lapses before the refresh lease it runs under: otherwise a second worker
      // could take the job while the first still holds the lease and its request is in flight.
      lockMs: Math.max(e.TK_JOB_LOCK_MS, e.TK_LEASE_TTL_MS),
      healthPort: e.TK_WORKER_HEALTH_PORT,
      healthHost: e.TK_WORKER_HEALTH_HOST,
    },
    shutdownTimeoutMs: e.TK_SHUTDOWN_TIMEOUT_MS,
    refreshPolicy: {
      fraction: e.TK_REFRESH_FRACTION,
      minBufferMs: e.TK_REFRESH_MIN_BUFFER_SECONDS * 1000,
      maxBufferMs: e.TK_REFRESH_MAX_BUFFER_SECONDS * 1000,
      defaultLifetimeMs: e.TK_DEFAULT_LIFETIME_SECONDS * 1000,
      jitterFraction: DEFAULT_REFRESH_POLICY.jitterFraction,
    },
    backoff: { baseMs: e.TK_BACKOFF_BASE_MS, capMs: e.TK_BACKOFF_CAP_MS },
    grantTimeoutMs: e.TK_GRANT_TIMEOUT_MS,
    grantDeadlineMs: Math.max(e.TK_GRANT_DEADLINE_MS ?? e.TK_LEASE_TTL_MS, e.TK_GRANT_TIMEOUT_MS),
    leaseTtlMs: e.TK_LEASE_TTL_MS,
    redisWait: { replicas: e.TK_REDIS_WAIT_REPLICAS, timeoutMs: e.TK_REDIS_WAIT_TIMEOUT_MS },
    tokenFallbackMinTtlMs: e.TK_FALLBACK_MIN_TTL_MS,
    tokenWaitMs: e.TK_TOKEN_WAIT_MS,
    sweepIntervalMs: e.TK_SWEEP_INTERVAL_MS,
    feedMaxLen: e.TK_FEED_MAXLEN,
    feedRetentionMs: Math.round(e.TK_FEED_RETENTION_HOURS * 3_600_000),
    historyMaxLen: e.TK_HISTORY_MAXLEN,
    readyCriticalCredentials: (e.TK_READY_CRITICAL_CREDENTIALS ?? '')
      .split(',')
      .map((id) => id.trim())
      .filter(Boolean),
    readyMaxFeedLag: e.TK_READY_MAX_FEED_LAG,
    webhooks: {
      timeoutMs: e.TK_WEBHOOK_TIMEOUT_MS,
      attempts: e.TK_WEBHOOK_ATTEMPTS,
      backoffMs: e.TK_WEBHOOK_BACKOFF_MS,
      maxResponseBytes: e.TK_WEBHOOK_MAX_RESPONSE_BYTES,
      concurrency: e.TK_WEBHOOK_CONCURRENCY,
    },
    eventStream: {
      heartbeatMs: e.TK_EVENT_STREAM_HEARTBEAT_MS,
      maxStreams: e.TK_EVENT_STREAM_MAX_STREAMS,
      maxStreamsPerNamespace: e.TK_EVENT_STREAM_MAX_STREAMS_PER_NAMESPACE,
    },
    tokenReads: {
      readRefreshIntervalMs: e.TK_TOKEN_READ_REFRESH_INTERVAL_MS,
      minTtlMaxFraction: e.TK_TOKEN_MIN_TTL_MAX_FRACTION,
    },
    maxSubscriptionsPerNamespace: e.TK_WEBHOOK_MAX_SUBSCRIPTIONS_PER_NAMESPACE,
    security: {
      ...(e.TK_BOOTSTRAP_ADMIN_KEY ? { bootstrapAdminKey: e.TK_BOOTSTRAP_ADMIN_KEY } : {}),
      ...(e.TK_BOOTSTRAP_ADMIN_KEY_FILE ? { bootstrapAdminKeyFile: e.TK_BOOTSTRAP_ADMIN_KEY_FILE } : {}),
      ...(e.TK_API_KEY_HMAC_KEY ? { apiKeyHmacKey: e.TK_API_KEY_HMAC_KEY } : {}),
      ...(e.TK_API_KEY_HMAC_KEY_FILE ? { apiKeyHmacKeyFile: e.TK_API_KEY_HMAC_KEY_FILE } : {}),
      migrateApiKeys: e.TK_MIGRATE_API_KEYS,
      publicDocs: e.TK_PUBLIC_DOCS,
      apiKeyCacheMs: e.TK_API_KEY_CACHE_MS,
      rateLimits: {
        token: { perSecond: e.TK_RATE_LIMIT_TOKEN_PER_SECOND, burst: e.TK_RATE_LIMIT_TOKEN_BURST },
        write: { perSecond: e.TK_RATE_LIMIT_WRITE_PER_SECOND, burst: e.TK_RATE_LIMIT_WRITE_BURST },
        read: { perSecond: e.TK_RATE_LIMIT_READ_PER_SECOND, burst: e.TK_RATE_LIMIT_READ_BURST },
      },
      reencryptIntervalMs: e.TK_REENCRYPT_INTERVAL_MS,
      outbound: outboundSettings(e),
    },
    fileSources: { dirs: fileSourceDirs(e.TK_FILE_SOURCE_DIRS) },
  };
}

/** `TK_FILE_SOURCE_DIRS`: absolute directories, never /, /proc, /sys or /dev (as given or once resolved). */
function fileSourceDirs(value: string | undefined): string[] {
  const dirs = splitFileSourceDirs(value);
  for (const dir of dirs) {
    let real: string | undefined;
    try {
      real = dir.startsWith('/') ? realpathSync(dir) : undefined;
    } catch {
      real = undefined; // created later (by whatever writes the token files)
    }
    const problem = fileSourceDirProblem(dir, real);
    if (problem)
      throw new ConfigError(`invalid configuration: TK_FILE_SOURCE_DIRS entry "${dir}" ${problem}`);
  }
  return [...new Set(dirs)];
}

/**
 * REDIS_URL with the password read from REDIS_PASSWORD_FILE (once, at boot): the URL names the
 * user, the file holds its password, so no secret sits in the environment.
 */
function redisUrlWithPassword(url: string, passwordFile: string | undefined): string {
  if (!passwordFile) return url;
  let password: string;
  try {
    password = readFileSync(passwordFile, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(
      `invalid configuration: REDIS_PASSWORD_FILE ${passwordFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  if (!password) throw new ConfigError(`invalid configuration: REDIS_PASSWORD_FILE ${passwordFile} is empty`);
  const at = url.indexOf('@');
  const scheme = url.indexOf('://');
  if (at >= 0 && url.slice(scheme + 3, at).includes(':')) {
    throw new ConfigError(
      'invalid configuration: REDIS_URL already has a password; drop it or REDIS_PASSWORD_FILE',
    );
  }
  // The user part of the URL (possibly empty: the `default` user) gets `:password` appended.
  const user = at >= 0 ? url.slice(scheme + 3, at) : '';
  const rest = at >= 0 ? url.slice(at + 1) : url.slice(scheme + 3);
  return `${url.slice(0, scheme + 3)}${user}:${encodeURIComponent(password)}@${rest}`;
}

const list = (v: string | undefined) =>
  (v ?? '')
    .split(/[\s,]+/)
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

function outboundSettings(e: z.infer<typeof envSchema>): OutboundSettings {
  const allowCidrs = list(e.TK_OUTBOUND_ALLOW_CIDRS);
  for (const cidr of allowCidrs) {
    const [address, bits] = cidr.split('/');
    const family = isIP(address ?? '');
    const max = family === 6 ? 128 : 32;
    if (!family || (bits !== undefined && !(Number(bits) >= 0 && Number(bits) <= max))) {
      throw new ConfigError(`invalid configuration: TK_OUTBOUND_ALLOW_CIDRS entry "${cidr}" is not a CIDR`);
    }
  }
  // Development mode talks to a provider on this machine (`npm start` with a local IdP).
  const devHosts = e.TK_DEV_MODE ? ['localhost', '127.0.0.1', '::1', '[::1]'] : [];
  return {
    allowHttpHosts: [...new Set([...list(e.TK_OUTBOUND_ALLOW_HTTP_HOSTS), ...devHosts])],
    allowPrivate: e.TK_OUTBOUND_ALLOW_PRIVATE,
    allowLoopback: e.TK_OUTBOUND_ALLOW_LOOPBACK || e.TK_DEV_MODE,
    allowCidrs,
    timeoutMs: e.TK_OUTBOUND_TIMEOUT_MS,
    maxResponseBytes: e.TK_OUTBOUND_MAX_RESPONSE_BYTES,
  };
}
