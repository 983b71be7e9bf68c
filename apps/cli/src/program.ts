import { Command, CommanderError } from 'commander';
import { CliContext, type CliIo } from './cli-context.js';
import { CliError } from './cli-error.js';
import { registerAgentCommands } from './commands/agent.js';
import { registerCredsCommands } from './commands/creds.js';
import { registerEventsCommands } from './commands/events.js';
import { registerImportCommands } from './commands/import.js';
import { registerKeysCommands } from './commands/keys.js';
import { registerLoginCommands } from './commands/login.js';
import { registerTokenCommands } from './commands/token.js';
import { EXIT_CODES_HELP, ExitCode } from './exit-codes.js';

export const CLI_VERSION = '0.1.0';

const ENV_HELP = `Environment:
  TOKENKEEPER_URL       API base URL (overrides the one saved by login)
  TOKENKEEPER_API_KEY   API key (overrides the one saved by login)
  XDG_CONFIG_HOME       config dir (default ~/.config); login writes tokenkeeper/config.json there`;

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('tokenkeeper')
    .description('Command line for tokenkeeper: credentials, tokens, events, imports, API keys, the agent')
    .version(CLI_VERSION, '-V, --version')
    .option('--json', 'machine-readable JSON output')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', `\n${EXIT_CODES_HELP}\n\n${ENV_HELP}`)
    .configureOutput({
      writeOut: (s) => ctx.io.stdout.write(s),
      writeErr: (s) => ctx.io.stderr.write(s),
    })
    .exitOverride();
  registerLoginCommands(program, ctx);
  registerCredsCommands(program, ctx);
  registerTokenCommands(program, ctx);
  registerEventsCommands(program, ctx);
  registerImportCommands(program, ctx);
  registerKeysCommands(program, ctx);
  registerAgentCommands(program, ctx);
  // Subcommands inherit output, exit override and help-after-error.
  for (const cmd of allCommands(program)) {
    cmd.exitOverride().showHelpAfterError('(run with --help for usage)');
    cmd.configureOutput(program.configureOutput());
  }
  return program;
}

function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/** Runs the CLI and returns the exit code; never throws. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const ctx = new CliContext(io);
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ExitCode.Ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version exit 0; anything commander complains about is a usage error (already printed).
      return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    }
    if (err instanceof CliError) {
      const lines = [`tokenkeeper: error: ${err.message}`];
      for (const d of err.options.details ?? []) lines.push(`  - ${d}`);
      if (err.options.hint) lines.push(`  hint: ${err.options.hint}`);
      io.stderr.write(`${lines.join('\n')}\n`);
      return err.exitCode;
    }
    io.stderr.write(`tokenkeeper: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    return ExitCode.Api;
  }
}
