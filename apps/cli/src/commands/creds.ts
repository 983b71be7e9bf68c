import type { Command } from 'commander';
import { type CliContext, collect, intOption, numberOption, parsePairs } from '../cli-context.js';
import { CliError } from '../cli-error.js';
import { type CredentialView, credentialColumns, renderCredential, stateHint } from '../credential-view.js';
import { ExitCode } from '../exit-codes.js';
import { renderTable } from '../format.js';

interface FieldOptions {
  fromJson?: string;
  kind?: string;
  name?: string;
  label?: string[];
  tokenEndpoint?: string;
  issuer?: string;
  clientId?: string;
  clientAuth?: string;
  clientSecret?: string;
  refreshToken?: string;
  accessToken?: string;
  expiresIn?: number;
  expiresAt?: string;
  tokenType?: string;
  scope?: string;
  audience?: string;
  resource?: string;
  timeoutSeconds?: number;
  policyFraction?: number;
  minBuffer?: number;
  maxBuffer?: number;
  defaultLifetime?: number;
  field?: string[];
}

const SECRET_HELP = '(value, @file, or - for stdin)';

/** Flags shared by `creds add` and `creds update`. */
function fieldOptions(cmd: Command, forAdd: boolean): Command {
  cmd
    .option('--from-json <file>', 'start from a JSON registration body (- for stdin); flags override it')
    .option('--name <name>', 'display name')
    .option('--label <key=value>', 'label (repeatable)', collect)
    .option('--token-endpoint <url>', 'token endpoint URL')
    .option('--issuer <url>', 'issuer URL (token endpoint found by discovery)')
    .option('--client-id <id>', 'OAuth client id')
    .option('--client-auth <method>', 'none | client_secret_basic | client_secret_post | ...')
    .option('--client-secret <secret>', `client secret ${SECRET_HELP}`)
    .option('--refresh-token <token>', `refresh token ${SECRET_HELP}`)
    .option('--scope <scope>', 'scope to request')
    .option('--audience <aud>', 'audience to request')
    .option('--resource <url>', 'resource indicator')
    .option(
      '--timeout-seconds <n>',
      'timeout of calls to the token endpoint',
      numberOption('--timeout-seconds'),
    )
    .option(
      '--policy-fraction <f>',
      'refresh when this fraction of the lifetime is left',
      numberOption('--policy-fraction'),
    )
    .option(
      '--min-buffer <seconds>',
      'refresh at least this long before expiry',
      numberOption('--min-buffer'),
    )
    .option('--max-buffer <seconds>', 'refresh at most this long before expiry', numberOption('--max-buffer'))
    .option(
      '--default-lifetime <seconds>',
      'lifetime of tokens that state none',
      numberOption('--default-lifetime'),
    )
    .option('--field <key=value>', 'any other body field; JSON values are parsed (repeatable)', collect);
  if (forAdd) {
    cmd
      .option('--kind <kind>', 'credential kind', 'oauth2.refresh_token')
      .option('--access-token <token>', `current access token ${SECRET_HELP}`)
      .option(
        '--expires-in <seconds>',
        'seconds the current access token has left',
        intOption('--expires-in'),
      )
      .option('--expires-at <iso>', 'expiry of the current access token (ISO 8601)')
      .option('--token-type <type>', 'token type of the current access token');
  }
  return cmd;
}

/** The request body from `--from-json` and the flags. */
async function buildBody(
  ctx: CliContext,
  o: FieldOptions,
  forAdd: boolean,
): Promise<Record<string, unknown>> {
  let body: Record<string, unknown> = {};
  if (o.fromJson) {
    const json = await ctx.readJsonFile(o.fromJson, 'the registration body');
    if (!json || typeof json !== 'object' || Array.isArray(json)) {
      throw CliError.usage(`--from-json ${o.fromJson} must hold a JSON object`);
    }
    body = { ...(json as Record<string, unknown>) };
  }
  const set = (key: string, value: unknown) => {
    if (value !== undefined) body[key] = value;
  };
  if (forAdd && (o.kind !== 'oauth2.refresh_token' || body.kind === undefined)) set('kind', o.kind);
  set('name', o.name);
  if (o.label?.length)
    body.labels = { ...((body.labels as Record<string, string>) ?? {}), ...parsePairs(o.label, '--label') };
  set('tokenEndpoint', o.tokenEndpoint);
  set('issuer', o.issuer);
  set('clientId', o.clientId);
  set('clientAuth', o.clientAuth);
  if (o.clientSecret !== undefined)
    set('clientSecret', await ctx.secretValue(o.clientSecret, '--client-secret'));
  if (o.refreshToken !== undefined)
    set('refreshToken', await ctx.secretValue(o.refreshToken, '--refresh-token'));
  if (o.accessToken !== undefined) set('accessToken', await ctx.secretValue(o.accessToken, '--access-token'));
  set('expiresIn', o.expiresIn);
  set('expiresAt', o.expiresAt);
  set('tokenType', o.tokenType);
  set('scope', o.scope);
  set('audience', o.audience);
  set('resource', o.resource);
  set('timeoutSeconds', o.timeoutSeconds);
  const policy: Record<string, number> = {};
  if (o.policyFraction !== undefined) policy.fraction = o.policyFraction;
  if (o.minBuffer !== undefined) policy.minBufferSeconds = o.minBuffer;
  if (o.maxBuffer !== undefined) policy.maxBufferSeconds = o.maxBuffer;
  if (o.defaultLifetime !== undefined) policy.defaultLifetimeSeconds = o.defaultLifetime;
  if (Object.keys(policy).length)
    body.policy = { ...((body.policy as Record<string, number>) ?? {}), ...policy };
  for (const [key, raw] of Object.entries(parsePairs(o.field, '--field'))) {
    try {
      body[key] = JSON.parse(raw);
    } catch {
      body[key] = raw;
    }
  }
  return body;
}

const idPath = (id: string) => `/v1/credentials/${encodeURIComponent(id)}`;

export function registerCredsCommands(program: Command, ctx: CliContext): void {
  const creds = program.command('creds').alias('credentials').description('manage credentials');

  fieldOptions(
    creds.command('add').description('register a credential; its first refresh is scheduled at once'),
    true,
  ).action(async (o: FieldOptions, cmd: Command) => {
    const body = await buildBody(ctx, o, true);
    const client = await ctx.client();
    const created = await client.post<CredentialView>('/v1/credentials', body, 'register credentials');
    if (ctx.wantsJson(cmd)) return ctx.json(created);
    ctx.out(created.id);
    ctx.note(`registered ${created.id} (${created.kind}, ${created.state})`);
  });

  fieldOptions(
    creds
      .command('update')
      .argument('<id>', 'credential id')
      .description('change a credential; new secrets re-activate one in reauth_required'),
    false,
  ).action(async (id: string, o: FieldOptions, cmd: Command) => {
    const body = await buildBody(ctx, o, false);
    if (!Object.keys(body).length) throw CliError.usage('nothing to change: give at least one flag');
    const client = await ctx.client();
    const updated = await client.patch<CredentialView>(idPath(id), body, 'change credentials');
    if (ctx.wantsJson(cmd)) return ctx.json(updated);
    ctx.out(renderCredential(updated, ctx.io.now()));
  });

  creds
    .command('ls')
    .alias('list')
    .description('list credentials with their state and time to expiry')
    .option('--state <state>', 'only this state (pending, active, expired, reauth_required)')
    .option('--label <key=value>', 'only credentials with this label (repeatable)', collect)
    .option('--limit <n>', 'page size', intOption('--limit'), 100)
    .option('--no-all', 'only the first page')
    .action(async (o: { state?: string; label?: string[]; limit: number; all: boolean }, cmd: Command) => {
      const client = await ctx.client();
      const items: CredentialView[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.get<{ items: CredentialView[]; nextCursor?: string }>(
          '/v1/credentials',
          { state: o.state, label: o.label, limit: o.limit, cursor },
          'list credentials',
        );
        items.push(...page.items);
        cursor = page.nextCursor;
        if (cursor && !o.all) ctx.note(`more credentials follow: drop --no-all to list them all`);
      } while (cursor && o.all);
      if (ctx.wantsJson(cmd)) return ctx.json(items);
      if (!items.length) {
        ctx.note('no credentials');
        return;
      }
      ctx.out(renderTable(items, credentialColumns(ctx.io.now())));
    });

  creds
    .command('show')
    .alias('get')
    .argument('<id>', 'credential id')
    .description('status of one credential (never its secrets)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const client = await ctx.client();
      const c = await client.get<CredentialView>(idPath(id), undefined, 'read credentials');
      if (ctx.wantsJson(cmd)) return ctx.json(c);
      ctx.out(renderCredential(c, ctx.io.now()));
      const hint = stateHint(c);
      if (hint) ctx.note(`note: ${hint}`);
    });

  creds
    .command('rm')
    .alias('remove')
    .argument('<ids...>', 'credential ids')
    .description('remove credentials: pending refreshes cancelled, secrets deleted, history kept a while')
    .action((ids: string[], _o: unknown, cmd: Command) =>
      ctx.deleteEach(cmd, ids, { path: idPath, what: 'remove credentials', done: 'removed' }),
    );

  creds
    .command('refresh')
    .argument('<id>', 'credential id')
    .description('refresh now (shared with any refresh already requested)')
    .option('--wait [seconds]', 'wait until the new token is there (default 30 s)')
    .action(async (id: string, o: { wait?: boolean | string }, cmd: Command) => {
      const client = await ctx.client();
      const before = o.wait
        ? await client.get<CredentialView>(idPath(id), undefined, 'read credentials')
        : undefined;
      const accepted = await client.post<Record<string, unknown>>(
        `${idPath(id)}/refresh`,
        {},
        'refresh credentials',
      );
      if (!before) {
        if (ctx.wantsJson(cmd)) return ctx.json({ id, ...accepted });
        ctx.note(`refresh of ${id} requested`);
        return;
      }
      const seconds = o.wait === true ? 30 : Number(o.wait);
      if (!Number.isFinite(seconds) || seconds <= 0) throw CliError.usage('--wait takes a number of seconds');
      const deadline = Date.now() + seconds * 1000;
      for (;;) {
        const now = await client.get<CredentialView>(idPath(id), undefined, 'read credentials');
        if ((now.tokenVersion ?? 0) > (before.tokenVersion ?? 0)) {
          if (ctx.wantsJson(cmd)) return ctx.json(now);
          ctx.note(`refreshed ${id}: token version ${now.tokenVersion}`);
          return;
        }
        if (now.state === 'reauth_required') {
          throw new CliError(`${id} needs re-authentication: the refresh failed permanently`, ExitCode.Api, {
            ...(stateHint(now) ? { hint: stateHint(now) } : {}),
          });
        }
        if (Date.now() >= deadline) {
          throw new CliError(`no new token for ${id} within ${seconds} s`, ExitCode.Unavailable, {
            hint: `see why with \`tokenkeeper creds show ${id}\` and \`tokenkeeper events tail --credential ${id}\``,
          });
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    });
}
