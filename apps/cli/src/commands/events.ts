import type { Command } from 'commander';
import { type CliContext, intOption } from '../cli-context.js';
import { formatEvent, tailEvents } from '../event-feed.js';

export function registerEventsCommands(program: Command, ctx: CliContext): void {
  const events = program.command('events').description('read the event feed');
  events
    .command('tail')
    .description('print events (oldest first); --follow keeps polling for new ones until Ctrl-C')
    .option('-f, --follow', 'keep waiting for new events')
    .option('--credential <id>', 'only this credential’s events')
    .option('--type <type>', 'only events of this type (e.g. token.updated)')
    .option('--after <cursor>', 'start after this cursor (a revision with --credential on older servers)')
    .option('--interval <ms>', 'polling interval with --follow', intOption('--interval'), 1000)
    .action(
      async (
        o: { follow?: boolean; credential?: string; type?: string; after?: string; interval: number },
        cmd: Command,
      ) => {
        const client = await ctx.client();
        const json = ctx.wantsJson(cmd);
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          for await (const e of tailEvents(client, {
            follow: Boolean(o.follow),
            intervalMs: Math.max(100, o.interval),
            pageSize: 200,
            signal: stop.signal,
            ...(o.credential ? { credentialId: o.credential } : {}),
            ...(o.type ? { type: o.type } : {}),
            ...(o.after ? { after: o.after } : {}),
          })) {
            // One JSON object per line with --json, so `jq` can follow the stream.
            ctx.out(json ? JSON.stringify(e) : formatEvent(e, ctx.io.now()));
          }
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      },
    );
}
