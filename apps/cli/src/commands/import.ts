import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { ApiClient } from '../api-client.js';
import { type CliContext, collect, intOption, parsePairs } from '../cli-context.js';
import { CliError } from '../cli-error.js';
import { ExitCode } from '../exit-codes.js';
import { renderTable } from '../format.js';
import { ProgressBar } from '../progress-bar.js';
import {
  googleRegistration,
  type ImportDefaults,
  oauthTokensRegistration,
  type RegistrationBody,
  TokenFileError,
} from '../token-files.js';

interface ImportResult {
  file: string;
  id?: string;
  name?: string;
  error?: string;
  exitCode?: number;
}

interface CommonOptions {
  tokenEndpoint?: string;
  issuer?: string;
  clientId?: string;
  clientSecret?: string;
  clientAuth?: string;
  label?: string[];
  namePrefix?: string;
  dryRun?: boolean;
  progress?: boolean;
  concurrency: number;
}

/** Shows a progress bar from this many files on (on a terminal). */
const PROGRESS_FROM = 10;

async function defaultsFrom(ctx: CliContext, o: CommonOptions): Promise<ImportDefaults> {
  return {
    ...(o.tokenEndpoint ? { tokenEndpoint: o.tokenEndpoint } : {}),
    ...(o.issuer ? { issuer: o.issuer } : {}),
    ...(o.clientId ? { clientId: o.clientId } : {}),
    ...(o.clientSecret ? { clientSecret: await ctx.secretValue(o.clientSecret, '--client-secret') } : {}),
    ...(o.clientAuth ? { clientAuth: o.clientAuth } : {}),
    ...(o.namePrefix !== undefined ? { namePrefix: o.namePrefix } : {}),
    labels: parsePairs(o.label, '--label'),
  };
}

/** Parses every file, then registers the good ones a few at a time; one file's failure never stops the rest. */
async function runImport(
  ctx: CliContext,
  cmd: Command,
  o: CommonOptions,
  files: string[],
  toBody: (file: string, json: unknown) => RegistrationBody,
): Promise<void> {
  const bodies: { file: string; body?: RegistrationBody; error?: string }[] = [];
  for (const file of files) {
    try {
      bodies.push({ file, body: toBody(file, await ctx.readJsonFile(file, 'the token file')) });
    } catch (err) {
      if (err instanceof TokenFileError || err instanceof CliError) bodies.push({ file, error: err.message });
      else throw err;
    }
  }
  const results: ImportResult[] = [];
  if (o.dryRun) {
    for (const b of bodies) {
      results.push(b.body ? { file: b.file, name: String(b.body.name) } : { file: b.file, error: b.error! });
    }
  } else {
    const client = await ctx.client();
    const bar = new ProgressBar(bodies.length, ctx.io.stderr, {
      force: o.progress === true ? true : o.progress === false ? false : undefined,
    });
    const showBar = o.progress === true || (o.progress !== false && bodies.length >= PROGRESS_FROM);
    const queue = [...bodies.entries()];
    const ordered: ImportResult[] = new Array(bodies.length);
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const [i, b] = next;
        ordered[i] = await registerOne(client, b);
        if (showBar) bar.tick(b.file.split('/').pop());
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, 16)) }, worker));
    if (showBar) bar.finish();
    results.push(...ordered);
  }

  const failed = results.filter((r) => r.error);
  if (ctx.wantsJson(cmd)) {
    ctx.json(results.map(({ exitCode: _, ...r }) => r));
  } else {
    ctx.out(
      renderTable(results, [
        { header: 'file', value: (r) => r.file },
        { header: 'result', value: (r) => (r.error ? 'failed' : o.dryRun ? 'would import' : 'imported') },
        { header: 'credential', value: (r) => r.id ?? r.name ?? '-' },
        { header: 'error', value: (r) => r.error ?? '' },
      ]),
    );
    ctx.note(
      `${o.dryRun ? 'would import' : 'imported'} ${results.length - failed.length} of ${results.length} file(s)`,
    );
  }
  if (failed.length) {
    const code = failed.find((r) => r.exitCode && r.exitCode !== ExitCode.Api)?.exitCode ?? ExitCode.Api;
    throw new CliError(`${failed.length} of ${results.length} file(s) were not imported`, code as ExitCode, {
      hint: 'fix the files or flags named above and import those files again (imported ones would be duplicated)',
    });
  }
}

async function registerOne(
  client: ApiClient,
  b: { file: string; body?: RegistrationBody; error?: string },
): Promise<ImportResult> {
  if (!b.body) return { file: b.file, error: b.error!, exitCode: ExitCode.Api };
  try {
    const created = await client.post<{ id: string; name?: string }>(
      '/v1/credentials',
      b.body,
      'register credentials',
    );
    return { file: b.file, id: created.id, ...(created.name ? { name: created.name } : {}) };
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    const details = err.options.details?.length ? ` (${err.options.details.join('; ')})` : '';
    return { file: b.file, error: `${err.message}${details}`, exitCode: err.exitCode };
  }
}

function commonOptions(cmd: Command): Command {
  return cmd
    .option('--token-endpoint <url>', 'token endpoint for files that do not name one')
    .option('--issuer <url>', 'issuer (discovery) for files that name no token endpoint')
    .option('--client-id <id>', 'client id for files that have none')
    .option('--client-secret <secret>', 'client secret (value, @file, or - for stdin)')
    .option(
      '--client-auth <method>',
      'client authentication (default: client_secret_basic with a secret, else none)',
    )
    .option('--label <key=value>', 'extra label on every imported credential (repeatable)', collect)
    .option('--name-prefix <prefix>', 'prefix for the credential names (default: none; google-)')
    .option('--dry-run', 'parse the files and show what would be imported, change nothing')
    .option('--progress', 'always draw the progress bar on stderr')
    .option('--no-progress', 'never draw the progress bar')
    .option('--concurrency <n>', 'registrations in flight at once', intOption('--concurrency'), 4);
}

export function registerImportCommands(program: Command, ctx: CliContext): void {
  const imp = program.command('import').description('turn existing token files into credentials');

  commonOptions(
    imp
      .command('oauth-tokens')
      .argument('<dir>', 'folder of *.json token files ({access_token, refresh_token, expires_at, ...})')
      .description(
        'import every *.json file of an .oauth-tokens folder as an oauth2.refresh_token credential',
      ),
  ).action(async (dir: string, o: CommonOptions, cmd: Command) => {
    let names: string[];
    try {
      names = (await readdir(dir, { withFileTypes: true }))
        .filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.json'))
        .map((e) => e.name)
        .sort();
    } catch (err) {
      throw CliError.usage(`cannot read the folder ${dir}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    if (!names.length) throw CliError.usage(`no *.json files in ${dir}`);
    const defaults = await defaultsFrom(ctx, o);
    await runImport(
      ctx,
      cmd,
      o,
      names.map((n) => join(dir, n)),
      (file, json) => oauthTokensRegistration(file, json, defaults),
    );
  });

  commonOptions(
    imp
      .command('google')
      .argument('<files...>', 'Google authorized_user JSON files (application_default_credentials.json)')
      .description('import Google authorized_user files as oauth2.refresh_token credentials')
      .option('--name <name>', 'credential name (one file only)'),
  ).action(async (files: string[], o: CommonOptions & { name?: string }, cmd: Command) => {
    if (o.name && files.length > 1)
      throw CliError.usage('--name works with one file only; use --name-prefix');
    const defaults = await defaultsFrom(ctx, o);
    await runImport(ctx, cmd, o, files, (file, json) => {
      const body = googleRegistration(file, json, defaults);
      return o.name ? { ...body, name: o.name } : body;
    });
  });
}
