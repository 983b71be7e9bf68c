import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ApiClient } from './api-client.js';
import { configPath, readStoredConfig, resolveConnection } from './cli-config.js';
import { CliError } from './cli-error.js';

/** What every command needs from the outside world; tests pass their own. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  now: () => number;
}

export class CliContext {
  private stdinUsed = false;

  constructor(readonly io: CliIo) {}

  /** Writes a line (or lines) to stdout. */
  out(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Writes a line to stderr: notes, warnings, progress. Never data a script would parse. */
  note(text: string): void {
    this.io.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  json(value: unknown): void {
    this.out(JSON.stringify(value, null, 2));
  }

  /** True when `--json` was given anywhere on the command line. */
  wantsJson(cmd: Command): boolean {
    return Boolean(cmd.optsWithGlobals<{ json?: boolean }>().json);
  }

  get configPath(): string {
    return configPath(this.io.env);
  }

  async client(): Promise<ApiClient> {
    const stored = await readStoredConfig(this.configPath);
    return new ApiClient(resolveConnection(stored, this.io.env));
  }

  /**
   * Deletes `ids` one after the other (the first failure stops), noting each as `done` (`removed`,
   * `revoked`); with --json, prints `{ [done]: ids }` once all are done.
   */
  async deleteEach(
    cmd: Command,
    ids: string[],
    o: { path: (id: string) => string; what: string; done: string },
  ): Promise<void> {
    const client = await this.client();
    for (const id of ids) {
      await client.delete(o.path(id), o.what);
      if (!this.wantsJson(cmd)) this.note(`${o.done} ${id}`);
    }
    if (this.wantsJson(cmd)) this.json({ [o.done]: ids });
  }

  async readStdin(what: string): Promise<string> {
    if (this.stdinUsed)
      throw CliError.usage(`only one value can come from stdin ("-"), and ${what} asked again`);
    this.stdinUsed = true;
    const chunks: Buffer[] = [];
    for await (const chunk of this.io.stdin) chunks.push(Buffer.from(chunk as Buffer));
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Reads a file the user named; a missing or unreadable one is a usage error. `-` is stdin. */
  async readUserFile(path: string, what: string): Promise<string> {
    if (path === '-') return this.readStdin(what);
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      throw CliError.usage(`cannot read ${what} from ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
  }

  async readJsonFile(path: string, what: string): Promise<unknown> {
    const text = await this.readUserFile(path, what);
    try {
      return JSON.parse(text);
    } catch (err) {
      throw CliError.usage(`${what} in ${path} is not valid JSON: ${(err as Error).message}`);
    }
  }

  /** A secret flag value: `@path` reads a file, `-` reads stdin, anything else is the value itself. */
  async secretValue(value: string, what: string): Promise<string> {
    if (value === '-') return (await this.readStdin(what)).trim();
    if (value.startsWith('@')) return (await this.readUserFile(value.slice(1), what)).trim();
    return value;
  }
}

/** Collects a repeatable option into an array. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `key=value` pairs into a record; `what` names the flag in the error. */
export function parsePairs(pairs: string[] | undefined, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw CliError.usage(`${what} takes key=value, got ${JSON.stringify(pair)}`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** A non-negative integer option. */
export function intOption(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value))
      throw CliError.usage(`${name} must be a whole number, got ${JSON.stringify(value)}`);
    return Number(value);
  };
}

/** A number option (fractions allowed). */
export function numberOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) {
      throw CliError.usage(`${name} must be a number, got ${JSON.stringify(value)}`);
    }
    return n;
  };
}
