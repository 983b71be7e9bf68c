/**
 * Static checks of the developer and CI tooling: .ci/run, scripts/start.mjs and scripts/setup.mjs,
 * deploy/redis/redis.conf, and the env vars named in docker-compose.yml against test/support/known-env.ts.
 * (test/unit/deploy-manifests.test.ts checks the manifests against the apps themselves.)
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_ENV_NAMES } from '#common';
import {
  isKnownEnvVar,
  LAUNCHER_ENV,
  redisConfDirectives,
  tokenkeeperEnvNames,
} from '../support/known-env.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
type Obj = Record<string, unknown>;

/** Keys of the env schema in libs/common/src/config.ts. */
function configKeys(): Set<string> {
  return new Set(CONFIG_ENV_NAMES);
}

/** `dist/<path>.js` names in a text, each mapped to the source file it is compiled from. */
function distEntryPoints(text: string): string[] {
  return [...text.matchAll(/dist\/(apps\/[a-z-]+\/src\/main)\.js/g)].map((m) => `${m[1]}.ts`);
}

describe('test/support/known-env.ts', () => {
  it('lists as launcher variables only ones the launcher reads and the apps do not', () => {
    const keys = configKeys();
    const launcher = read('scripts/start.mjs') + read('scripts/lib/embedded-redis.mjs');
    for (const name of Object.keys(LAUNCHER_ENV)) {
      expect(launcher, `${name} is not read by scripts/start.mjs`).toContain(name);
      expect(keys, `${name} is in the config.ts env schema: the apps read it`).not.toContain(name);
    }
  });
});

describe('docker-compose.yml env vars', () => {
  const text = read('docker-compose.yml');
  const compose = parse(text, { merge: true }) as { services: Record<string, Obj> };

  it('sets only known TK_*/REDIS_URL variables in service environments', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      const env = svc.environment ?? {};
      const keys = Array.isArray(env) ? env.map((e: string) => e.split('=')[0]!) : Object.keys(env as Obj);
      for (const key of keys.filter((k) => tokenkeeperEnvNames(k).size > 0)) {
        expect(isKnownEnvVar(key), `service ${name}: ${key} is not in test/support/known-env.ts`).toBe(true);
      }
    }
  });

  it('passes the api and worker the Redis URL of the redis service and an encryption key', () => {
    for (const name of ['api', 'worker']) {
      const env = compose.services[name]!.environment as Record<string, string>;
      expect(new URL(env.REDIS_URL!).hostname, name).toBe('redis');
      expect(
        env.TK_ENCRYPTION_KEYS ?? env.TK_ENCRYPTION_KEYS_FILE,
        `${name} gets an encryption key`,
      ).toBeTruthy();
      expect(env.TK_DEV_MODE ?? '', `${name} must not run in dev mode`).not.toMatch(/^(1|true|yes)$/);
    }
  });
});

describe('deploy/redis/redis.conf', () => {
  const directives = redisConfDirectives(read('deploy/redis/redis.conf'));

  it('keeps an fsynced append-only file and no RDB snapshots, at hz 100, never evicting (BullMQ)', () => {
    expect(directives.get('appendonly')).toBe('yes');
    expect(['always', 'everysec']).toContain(directives.get('appendfsync'));
    expect(directives.get('save')).toBe('""');
    expect(directives.get('hz')).toBe('100');
    expect(directives.get('maxmemory-policy')).toBe('noeviction');
  });
});

describe('.ci/run', () => {
  const script = read('.ci/run');

  it('is an executable, strict bash script', () => {
    expect(statSync(join(ROOT, '.ci/run')).mode & 0o111, 'executable bits').not.toBe(0);
    expect(script.split('\n')[0]).toMatch(/^#!.*\bbash\b/);
    expect(script).toMatch(/^set -euo pipefail$/m);
  });

  it('installs from the lockfile, checks the Node 24 binary, then runs npm test', () => {
    const ci = script.search(/\bnpm ci\b(?!\w)/);
    const check = script.search(/node_modules\/\.bin\/node --version/);
    const test = script.search(/\bnpm test\b/);
    expect(ci, 'npm ci').toBeGreaterThan(-1);
    expect(check, 'node_modules/.bin/node --version').toBeGreaterThan(-1);
    expect(test, 'npm test').toBeGreaterThan(-1);
    expect(script).toContain('v24.');
    expect(script).not.toMatch(/\bnpm install\b/);
    expect(script).not.toMatch(/^\s*docker\b/m);
  });

  it('installs redis-server with apt-get when it is missing', () => {
    expect(script).toMatch(/apt-get install -y redis-server/);
    expect(script).toMatch(/apt-get update/);
  });
});

describe('scripts/start.mjs (dev launcher)', () => {
  const launcher = read('scripts/start.mjs');
  const redis = read('scripts/lib/embedded-redis.mjs');

  it('runs the api and worker entry points, which exist as sources', () => {
    const entries = distEntryPoints(launcher);
    expect(entries.sort()).toEqual(['apps/api/src/main.ts', 'apps/worker/src/main.ts']);
    for (const entry of entries) expect(existsSync(join(ROOT, entry)), entry).toBe(true);
  });

  it('names only known env vars', () => {
    for (const name of tokenkeeperEnvNames(launcher + redis)) {
      expect(isKnownEnvVar(name), `${name} is not in test/support/known-env.ts`).toBe(true);
    }
  });

  it('starts the embedded Redis with the AOF, hz 100, no RDB snapshots, on loopback with a password', () => {
    // The password is in a 0600 config file, never on the command line (`ps` shows that to everyone).
    expect(redis).toMatch(/requirepass \$\{password\}/);
    expect(redis).not.toMatch(/'--requirepass'/);
    for (const [flag, value] of [
      ['--appendonly', 'yes'],
      ['--appendfsync', 'everysec'],
      ['--hz', '100'],
      ['--save', ''],
      ['--bind', '127.0.0.1'],
      ['--protected-mode', 'yes'],
    ]) {
      expect(redis).toMatch(new RegExp(`'${flag}',\\s*'${value}'`));
    }
  });

  it('is what npm start and npm run setup run', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.start).toMatch(/node scripts\/start\.mjs/);
    expect(scripts.setup).toMatch(/node scripts\/setup\.mjs/);
    expect(existsSync(join(ROOT, 'scripts/setup.mjs'))).toBe(true);
  });
});
