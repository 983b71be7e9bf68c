import { CONFIG_ENV_NAMES } from '#common';

/**
 * Environment variables tokenkeeper knows about, for static checks of deploy manifests and scripts:
 * a manifest that sets `TK_ENCRYPTION_KEY` (no S) would otherwise deploy a process that silently
 * ignores it. `readBy: 'apps'` entries must be keys of the env schema in libs/common/src/config.ts
 * (checked by test/unit/dev-tooling.test.ts); `launcher` ones are read only by scripts/start.mjs.
 */
export interface KnownEnvVar {
  readBy: 'apps' | 'launcher';
  description: string;
}

export const KNOWN_ENV: Readonly<Record<string, KnownEnvVar>> = {
  REDIS_URL: { readBy: 'apps', description: 'Redis connection URL (required by api and worker)' },
  TK_REDIS_PREFIX: { readBy: 'apps', description: 'key prefix in Redis (default tk)' },
  TK_PARTITIONS: { readBy: 'apps', description: 'number of event-feed partitions' },
  TK_DEV_MODE: {
    readBy: 'apps',
    description: '1: development, generate and keep an encryption key under the data dir',
  },
  TK_DATA_DIR: { readBy: 'apps', description: 'data directory (default ./.data)' },
  TK_LOG_LEVEL: { readBy: 'apps', description: 'pino log level' },
  TK_API_HOST: { readBy: 'apps', description: 'api listen host (default 0.0.0.0)' },
  TK_API_PORT: { readBy: 'apps', description: 'api listen port (default 8080)' },
  TK_ENCRYPTION_KEYS: { readBy: 'apps', description: 'key ring: kid:base64url-32-byte-key[,kid2:key2]' },
  TK_ENCRYPTION_KEYS_FILE: { readBy: 'apps', description: 'file holding the key ring' },
  TK_ENCRYPTION_PRIMARY: { readBy: 'apps', description: 'key id used for new ciphertexts' },
  TK_WORKER_CONCURRENCY: { readBy: 'apps', description: 'refresh jobs processed at once per worker' },
  TK_BOOTSTRAP_ADMIN_KEY: { readBy: 'apps', description: 'an admin API key accepted as given' },
  TK_READY_CRITICAL_CREDENTIALS: {
    readBy: 'apps',
    description: 'credentials /health/ready requires to be valid',
  },
  TK_WEBHOOK_CONCURRENCY: { readBy: 'apps', description: 'webhook deliveries at once per worker' },
  TK_OUTBOUND_ALLOW_PRIVATE: { readBy: 'apps', description: 'allow outbound calls to private addresses' },
  TK_OUTBOUND_ALLOW_LOOPBACK: { readBy: 'apps', description: 'allow outbound calls to loopback addresses' },
  TK_OUTBOUND_ALLOW_CIDRS: { readBy: 'apps', description: 'CIDRs allowed for outbound calls' },
  TK_OUTBOUND_ALLOW_HTTP_HOSTS: { readBy: 'apps', description: 'hosts that may be called over plain http' },
  TK_EMBEDDED_REDIS_PORT: {
    readBy: 'launcher',
    description: 'port of the embedded Redis of scripts/start.mjs (default 6380, 0 = any free port)',
  },
};

export const KNOWN_ENV_VARS: readonly string[] = Object.keys(KNOWN_ENV);

/** The tokenkeeper-specific names in a text: `TK_*` and `REDIS_URL`. */
export function tokenkeeperEnvNames(text: string): Set<string> {
  return new Set([...text.matchAll(/\b(TK_[A-Z0-9_]+|REDIS_URL)\b/g)].map((m) => m[1]!));
}

/** Known: described above, or read by the apps (every key of the config schema, so new settings need no second list). */
export const isKnownEnvVar = (name: string): boolean =>
  Object.hasOwn(KNOWN_ENV, name) || CONFIG_ENV_NAMES.includes(name);
