import { CONFIG_ENV_NAMES } from '#common';

/**
 * Environment variables tokenkeeper knows about, for static checks of deploy manifests and scripts:
 * a manifest that sets `TK_ENCRYPTION_KEY` (no S) would otherwise deploy a process that silently
 * ignores it. The apps' own are the keys of the env schema in libs/common/src/config.ts (so new
 * settings need no second list); listed here are the ones only scripts/start.mjs reads (checked by
 * test/unit/dev-tooling.test.ts).
 */
export const LAUNCHER_ENV: Readonly<Record<string, string>> = {
  TK_EMBEDDED_REDIS_PORT: 'port of the embedded Redis of scripts/start.mjs (default 6380, 0 = any free port)',
};

export const KNOWN_ENV_VARS: readonly string[] = [...CONFIG_ENV_NAMES, ...Object.keys(LAUNCHER_ENV)];

/** The tokenkeeper-specific names in a text: `TK_*` and `REDIS_URL`. */
export function tokenkeeperEnvNames(text: string): Set<string> {
  return new Set([...text.matchAll(/\b(TK_[A-Z0-9_]+|REDIS_URL)\b/g)].map((m) => m[1]!));
}

/** Known: read by the apps (a key of the config schema) or by the launcher. */
export const isKnownEnvVar = (name: string): boolean => KNOWN_ENV_VARS.includes(name);

/** The directives of a redis.conf text (the manifests' checks read deploy/redis/redis.conf): lower-case name -> the rest of the line. */
export function redisConfDirectives(text: string): Map<string, string> {
  return new Map(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => [l.split(/\s+/)[0]!.toLowerCase(), l.slice(l.split(/\s+/)[0]!.length).trim()] as const),
  );
}
