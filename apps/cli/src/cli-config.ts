import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError } from './cli-error.js';
import { ExitCode } from './exit-codes.js';

/** What `tokenkeeper login` stores. */
export interface StoredConfig {
  url?: string;
  apiKey?: string;
}

/** Where the API is and how to authenticate, after environment overrides. */
export interface Connection {
  url: string;
  apiKey?: string;
  /** Where each value came from, for error messages. */
  source: { url: 'env' | 'config' | 'default'; apiKey?: 'env' | 'config' };
}

export const DEFAULT_URL = 'http://127.0.0.1:8080';

/** `$XDG_CONFIG_HOME/tokenkeeper/config.json`, else `~/.config/tokenkeeper/config.json`. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME?.trim() || join(env.HOME?.trim() || homedir(), '.config');
  return join(base, 'tokenkeeper', 'config.json');
}

export async function readStoredConfig(path: string): Promise<StoredConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`, ExitCode.Usage);
  }
  try {
    const parsed = JSON.parse(text) as StoredConfig;
    return {
      ...(typeof parsed.url === 'string' ? { url: parsed.url } : {}),
      ...(typeof parsed.apiKey === 'string' ? { apiKey: parsed.apiKey } : {}),
    };
  } catch {
    throw new CliError(`${path} is not valid JSON`, ExitCode.Usage, {
      hint: 'run `tokenkeeper login` again to rewrite it',
    });
  }
}

/** Writes the config readable by its owner only (dir 0700, file 0600), atomically. */
export async function writeStoredConfig(path: string, config: StoredConfig): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** The connection to use: `TOKENKEEPER_URL`/`TOKENKEEPER_API_KEY` override the stored config. */
export function resolveConnection(stored: StoredConfig, env: NodeJS.ProcessEnv = process.env): Connection {
  const envUrl = env.TOKENKEEPER_URL?.trim();
  const envKey = env.TOKENKEEPER_API_KEY?.trim();
  const url = envUrl || stored.url || DEFAULT_URL;
  const apiKey = envKey || stored.apiKey;
  return {
    url: normalizeUrl(url),
    ...(apiKey ? { apiKey } : {}),
    source: {
      url: envUrl ? 'env' : stored.url ? 'config' : 'default',
      ...(apiKey ? { apiKey: envKey ? 'env' : 'config' } : {}),
    },
  };
}

/** Checks an API base URL and strips trailing slashes. */
export function normalizeUrl(raw: string): string {
  if (!URL.canParse(raw) || !/^https?:$/.test(new URL(raw).protocol)) {
    throw CliError.usage(`not an http(s) URL: ${raw}`, 'give the API base URL, e.g. http://127.0.0.1:8080');
  }
  return raw.replace(/\/+$/, '');
}
