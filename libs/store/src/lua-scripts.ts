import { readFileSync } from 'node:fs';
import type { RedisClient } from './redis-client.js';

/** Scripts under ./lua, named `<name>-<numKeys>.lua`. */
const SCRIPTS = [
  'append-events-6',
  'acquire-lease-read-2',
  'release-lease-1',
  'extend-lease-1',
  'record-attempt-2',
  'replace-field-if-1',
  'incr-field-if-exists-1',
] as const;
type ScriptName = (typeof SCRIPTS)[number];

export type ScriptArg = string | number;

/** Loads every script once per connection with `defineCommand` (EVALSHA, falling back to EVAL). */
export function defineScripts(redis: RedisClient): void {
  for (const name of SCRIPTS) {
    const command = commandName(name);
    if ((redis as unknown as Record<string, unknown>)[command]) continue;
    const lua = readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
    redis.defineCommand(command, { numberOfKeys: Number(name.slice(name.lastIndexOf('-') + 1)), lua });
  }
}

export function runScript<T>(
  redis: RedisClient,
  name: ScriptName,
  keys: string[],
  args: ScriptArg[],
): Promise<T> {
  const fn = (redis as unknown as Record<string, (...a: ScriptArg[]) => Promise<T>>)[commandName(name)];
  if (!fn) throw new TypeError(`script ${name} not defined on this connection; call defineScripts first`);
  return fn.call(redis, ...keys, ...args);
}

function commandName(name: string): string {
  return `tk_${name.replace(/-/g, '_')}`;
}
