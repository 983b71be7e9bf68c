import { hkdfSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type AppConfig, ConfigError } from '#common';
import type { ApiKeyStoreKeys } from './api-key-store.js';
import { generateApiKey } from './api-keys.js';

/** DI token of the api's key material, resolved once at boot by `loadApiKeySecrets`. */
export const API_KEY_SECRETS = Symbol('API_KEY_SECRETS');

export interface ApiKeySecrets extends ApiKeyStoreKeys {
  /** The bootstrap admin key of the operator namespace, if any. */
  bootstrapAdminKey?: string;
  /** Development only: the file the generated admin key is kept in. */
  devAdminKeyFile?: string;
}

const MIN_SERVER_KEY = 32;

function readSecretFile(file: string, variable: string): string {
  let value: string;
  try {
    value = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(
      `invalid configuration: ${variable} ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  if (!value) throw new ConfigError(`invalid configuration: ${variable} ${file} is empty`);
  return value;
}

/**
 * Development only: a secret generated on first start and kept in `<TK_DATA_DIR>/<name>` (mode
 * 0600); later starts (and other processes racing this one) read the same file.
 */
function devSecretFile(
  dataDir: string,
  name: string,
  generate: () => string,
): { file: string; created: boolean } {
  const file = resolve(join(dataDir, name));
  let created = false;
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, `${generate()}\n`, { mode: 0o600, flag: 'wx' });
      created = true;
    } catch (err) {
      // Another process created it first: read theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return { file, created };
}

/** The server key: configured (value or file), generated in development, else a ConfigError. */
function serverKey(config: AppConfig): string {
  const { apiKeyHmacKey, apiKeyHmacKeyFile } = config.security;
  if (apiKeyHmacKey && apiKeyHmacKeyFile) {
    throw new ConfigError(
      'invalid configuration: set TK_API_KEY_HMAC_KEY or TK_API_KEY_HMAC_KEY_FILE, not both',
    );
  }
  let key =
    apiKeyHmacKey ??
    (apiKeyHmacKeyFile ? readSecretFile(apiKeyHmacKeyFile, 'TK_API_KEY_HMAC_KEY_FILE') : undefined);
  if (!key && config.devMode) {
    const { file } = devSecretFile(config.dataDir, 'api-key-hmac-key', () =>
      generateApiKey().slice('tk_'.length),
    );
    key = readSecretFile(file, 'the development API-key HMAC key');
  }
  if (!key) {
    throw new ConfigError(
      'no API-key HMAC key: set TK_API_KEY_HMAC_KEY_FILE to a file holding at least 32 random characters (e.g. `openssl rand -base64 48`), or TK_API_KEY_HMAC_KEY, or TK_DEV_MODE=1 for a generated one',
    );
  }
  if (key.length < MIN_SERVER_KEY) {
    throw new ConfigError(
      `invalid configuration: the API-key HMAC key must have at least ${MIN_SERVER_KEY} characters`,
    );
  }
  return key;
}

function bootstrapAdminKey(config: AppConfig): { key?: string; devFile?: string } {
  const { bootstrapAdminKey: value, bootstrapAdminKeyFile: file } = config.security;
  if (value && file) {
    throw new ConfigError(
      'invalid configuration: set TK_BOOTSTRAP_ADMIN_KEY or TK_BOOTSTRAP_ADMIN_KEY_FILE, not both',
    );
  }
  if (value) return { key: value };
  if (file) {
    const key = readSecretFile(file, 'TK_BOOTSTRAP_ADMIN_KEY_FILE');
    if (key.length < 20 || key.length > 512) {
      throw new ConfigError(
        'invalid configuration: TK_BOOTSTRAP_ADMIN_KEY_FILE must hold 20 to 512 characters',
      );
    }
    return { key };
  }
  if (!config.devMode) return {};
  let shown: string | undefined;
  const { file: devFile, created } = devSecretFile(config.dataDir, 'admin-key', () => {
    shown = generateApiKey();
    return shown;
  });
  if (created && shown) {
    // Shown once, on the terminal of the developer who started it; never through the logger.
    process.stderr.write(`\ntokenkeeper dev admin API key (also in ${devFile}):\n  ${shown}\n\n`);
  }
  return { key: readSecretFile(devFile, 'the development admin key file'), devFile };
}

/**
 * Resolves the api's key material once, at boot, before the app is built (so a missing secret
 * stops the process with a ConfigError naming the variable). The lookup and record keys are
 * derived from the one server key with HKDF-SHA256 under distinct labels.
 */
export function loadApiKeySecrets(config: AppConfig): ApiKeySecrets {
  const ikm = Buffer.from(serverKey(config), 'utf8');
  const derive = (label: string) =>
    Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), `tokenkeeper api-key ${label} v1`, 32));
  const admin = bootstrapAdminKey(config);
  return {
    lookupKey: derive('lookup'),
    recordKey: derive('record'),
    ...(admin.key ? { bootstrapAdminKey: admin.key } : {}),
    ...(admin.devFile ? { devAdminKeyFile: admin.devFile } : {}),
  };
}
