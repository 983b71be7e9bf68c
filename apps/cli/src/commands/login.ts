import type { Command } from 'commander';
import { ApiClient } from '../api-client.js';
import { normalizeUrl, readStoredConfig, resolveConnection, writeStoredConfig } from '../cli-config.js';
import type { CliContext } from '../cli-context.js';
import { CliError } from '../cli-error.js';

export function registerLoginCommands(program: Command, ctx: CliContext): void {
  program
    .command('login')
    .description(
      'store the API URL and key in the user config dir (mode 0600); env TOKENKEEPER_URL/TOKENKEEPER_API_KEY override them',
    )
    .requiredOption('--url <url>', 'API base URL, e.g. https://tokenkeeper.internal')
    .option('--api-key <key>', 'API key (tk_...); - reads it from stdin, @file from a file')
    .option('--no-verify', 'store without checking the URL and key against the API')
    .action(async (o: { url: string; apiKey?: string; verify: boolean }, cmd: Command) => {
      const url = normalizeUrl(o.url);
      const apiKey =
        o.apiKey !== undefined ? (await ctx.secretValue(o.apiKey, '--api-key')).trim() : undefined;
      if (o.verify) {
        const client = new ApiClient(resolveConnection({ url, ...(apiKey ? { apiKey } : {}) }, {}));
        try {
          await client.get('/v1/credentials', { limit: 1 }, 'list credentials');
        } catch (err) {
          // 403: the key is valid but may not list credentials (a token:read key); that is fine.
          if (!(err instanceof CliError && err.options.status === 403)) throw err;
        }
      }
      const path = ctx.configPath;
      const previous = await readStoredConfig(path);
      await writeStoredConfig(path, { ...previous, url, ...(apiKey ? { apiKey } : {}) });
      if (ctx.wantsJson(cmd)) return ctx.json({ url, apiKey: apiKey ? 'stored' : 'none', config: path });
      ctx.note(`logged in to ${url}; settings saved in ${path}`);
      if (ctx.io.env.TOKENKEEPER_URL || ctx.io.env.TOKENKEEPER_API_KEY) {
        ctx.note(
          'note: TOKENKEEPER_URL / TOKENKEEPER_API_KEY are set and take precedence over the saved values',
        );
      }
    });

  program
    .command('logout')
    .description('forget the stored API key (the URL stays)')
    .action(async () => {
      const path = ctx.configPath;
      const { apiKey: _, ...rest } = await readStoredConfig(path);
      await writeStoredConfig(path, rest);
      ctx.note(`API key removed from ${path}`);
    });
}
