import type { Command } from 'commander';
import type { CliContext } from '../cli-context.js';
import { intOption } from '../cli-context.js';

interface TokenBody {
  accessToken: string;
  tokenType: string;
  tokenVersion: number;
  expiresAt: string;
  expiresIn: number;
  warning?: string;
}

export function registerTokenCommands(program: Command, ctx: CliContext): void {
  const token = program.command('token').description('get access tokens for scripts');
  token
    .command('get')
    .argument('<id>', 'credential id')
    .description(
      'print the current access token and a newline, nothing else: TOKEN=$(tokenkeeper token get <id>)',
    )
    .option(
      '--min-ttl <seconds>',
      'required seconds of validity; refreshes and waits otherwise',
      intOption('--min-ttl'),
    )
    .action(async (id: string, o: { minTtl?: number }, cmd: Command) => {
      const client = await ctx.client();
      const res = await client.request<TokenBody>('GET', `/v1/credentials/${encodeURIComponent(id)}/token`, {
        query: { minTtl: o.minTtl },
        what: 'read tokens (scope token:read)',
      });
      const warning = res.headers.get('tokenkeeper-warning') ?? res.body.warning;
      if (warning) ctx.note(`warning: ${warning}`);
      if (ctx.wantsJson(cmd)) return ctx.json(res.body);
      ctx.io.stdout.write(`${res.body.accessToken}\n`);
    });
}
