import type { Command } from 'commander';
import { type CliContext, collect } from '../cli-context.js';
import { formatRelative, renderTable } from '../format.js';

/** An API key as the API lists it (never the secret, except once on creation). */
interface ApiKeyView {
  id: string;
  name?: string;
  scopes?: string[];
  namespace?: string;
  createdAt?: string;
  lastUsedAt?: string;
  expiresAt?: string;
  revokedAt?: string;
  [field: string]: unknown;
}

/** The secret in a creation response: `key`, else any string field that looks like one (`tk_...`). */
export function secretOf(created: Record<string, unknown>): string | undefined {
  for (const field of ['key', 'apiKey', 'secret', 'token']) {
    if (typeof created[field] === 'string') return created[field] as string;
  }
  return Object.values(created).find((v): v is string => typeof v === 'string' && v.startsWith('tk_'));
}

export function registerKeysCommands(program: Command, ctx: CliContext): void {
  const keys = program.command('keys').description('manage API keys (needs an admin key)');

  keys
    .command('create')
    .description('create an API key; prints the key once on stdout (store it now)')
    .requiredOption('--name <name>', 'what the key is for')
    .option(
      '--scope <scope>',
      'scope: admin, credentials:read, credentials:write, token:read, events:read, ... (repeatable)',
      collect,
    )
    .option('--namespace <ns>', 'namespace the key acts in')
    .action(async (o: { name: string; scope?: string[]; namespace?: string }, cmd: Command) => {
      const client = await ctx.client();
      const created = await client.post<ApiKeyView>(
        '/v1/api-keys',
        {
          name: o.name,
          ...(o.scope ? { scopes: o.scope } : {}),
          ...(o.namespace ? { namespace: o.namespace } : {}),
        },
        'create API keys (scope admin)',
      );
      if (ctx.wantsJson(cmd)) return ctx.json(created);
      const secret = secretOf(created);
      if (secret) ctx.out(secret);
      ctx.note(
        `created API key ${created.id} (${(created.scopes ?? []).join(' ') || 'default scopes'}); ` +
          'this is the only time the key is shown',
      );
    });

  keys
    .command('ls')
    .alias('list')
    .description('list API keys (never their secrets)')
    .action(async (_o: unknown, cmd: Command) => {
      const client = await ctx.client();
      const page = await client.get<{ items: ApiKeyView[] } | ApiKeyView[]>(
        '/v1/api-keys',
        undefined,
        'list API keys (scope admin)',
      );
      const items = Array.isArray(page) ? page : page.items;
      if (ctx.wantsJson(cmd)) return ctx.json(items);
      if (!items.length) return ctx.note('no API keys');
      const now = ctx.io.now();
      ctx.out(
        renderTable(items, [
          { header: 'id', value: (k) => k.id },
          { header: 'name', value: (k) => k.name ?? '' },
          { header: 'scopes', value: (k) => (k.scopes ?? []).join(',') || '-' },
          { header: 'namespace', value: (k) => k.namespace ?? '-' },
          { header: 'created', value: (k) => formatRelative(k.createdAt, now) },
          { header: 'last used', value: (k) => formatRelative(k.lastUsedAt, now) },
          { header: 'revoked', value: (k) => (k.revokedAt ? formatRelative(k.revokedAt, now) : '-') },
        ]),
      );
    });

  keys
    .command('revoke')
    .argument('<ids...>', 'API key ids')
    .description('revoke API keys; callers using them get 401 from then on')
    .action((ids: string[], _o: unknown, cmd: Command) =>
      ctx.deleteEach(cmd, ids, {
        path: (id) => `/v1/api-keys/${encodeURIComponent(id)}`,
        what: 'revoke API keys (scope admin)',
        done: 'revoked',
      }),
    );
}
