import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { normalizeUrl, readStoredConfig, resolveConnection } from '../cli-config.js';
import { type CliContext, intOption } from '../cli-context.js';
import { CliError } from '../cli-error.js';
import type { ExitCode } from '../exit-codes.js';

const CREDENTIAL_ID = /^cred_[A-Za-z0-9_-]{10,64}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** The agent's entry point in the build, beside this command's (dist/apps/cli/src/commands). */
const AGENT_MAIN = fileURLToPath(new URL('../../../agent/src/main.js', import.meta.url));

export interface StarterConfig {
  credentialId: string;
  apiUrl: string;
  apiKeyEnv: string;
  tokenFile: string;
  minTtl: number;
}

/**
 * A starter agent configuration for one credential, in the shape of
 * deploy/agent/agent.reference.yaml: the API, the credential, and one file sink writing the bare
 * token. The API key is an environment reference, never the key itself.
 */
export function starterAgentConfig(c: StarterConfig): string {
  return `# tokenkeeper agent: keeps the current token of ${c.credentialId} in ${c.tokenFile}.
# Run:  ${c.apiKeyEnv}=tk_... npx tokenkeeper agent run --config <this file> [--once]
# Every setting and sink (JSON token files, templates, commands, registrars, signals) is in
# deploy/agent/agent.reference.yaml.
api:
  url: ${JSON.stringify(c.apiUrl)}
  apiKey: \${${c.apiKeyEnv}} # read from the environment when the agent starts; scopes credentials:read, token:read, events:read
  pollIntervalSeconds: 30 # longest wait between two looks at the credential
  events: true # also follow the event stream as a faster trigger

logLevel: info

credentials:
  - id: ${c.credentialId}
    minTtl: ${c.minTtl} # a token written has at least this many seconds left
    sinks:
      - type: file
        format: raw # the access token alone
        path: ${JSON.stringify(c.tokenFile)}
        mode: 0600
`;
}

export function registerAgentCommands(program: Command, ctx: CliContext): void {
  const agent = program
    .command('agent')
    .description('the agent that writes tokens to files (and more) beside an application');

  agent
    .command('init')
    .argument('<credential-id>', 'the credential whose token the agent keeps')
    .description(
      'write a starter agent configuration: one credential, its token written to a file; the API key is read from an environment variable, never written into the file',
    )
    .option('--out <file>', 'where to write the configuration (- for stdout)', 'agent.yaml')
    .option('--token-file <path>', 'where the agent writes the token (mode 0600)', 'token')
    .option('--api-url <url>', 'the API the agent calls (default: the URL this command line uses)')
    .option('--api-key-env <name>', 'environment variable the agent reads its API key from', 'TK_API_KEY')
    .option('--min-ttl <seconds>', 'seconds a written token has left at least', intOption('--min-ttl'), 60)
    .option('--force', 'overwrite an existing file')
    .action(
      async (
        id: string,
        o: {
          out: string;
          tokenFile: string;
          apiUrl?: string;
          apiKeyEnv: string;
          minTtl: number;
          force?: boolean;
        },
      ) => {
        if (!CREDENTIAL_ID.test(id))
          throw CliError.usage(
            `not a credential id: ${JSON.stringify(id.slice(0, 80))}`,
            'credential ids look like cred_…; `tokenkeeper creds ls` lists them',
          );
        if (!ENV_NAME.test(o.apiKeyEnv))
          throw CliError.usage('--api-key-env takes an environment variable name (letters, digits, _)');
        if (o.tokenFile.trim() === '' || /[\r\n\0]/.test(o.tokenFile))
          throw CliError.usage('--token-file takes a file path');
        const apiUrl = o.apiUrl
          ? normalizeUrl(o.apiUrl)
          : resolveConnection(await readStoredConfig(ctx.configPath), ctx.io.env).url;
        const text = starterAgentConfig({
          credentialId: id,
          apiUrl,
          apiKeyEnv: o.apiKeyEnv,
          tokenFile: o.tokenFile,
          minTtl: o.minTtl,
        });
        if (o.out === '-') return ctx.out(text);
        try {
          await writeFile(o.out, text, { flag: o.force ? 'w' : 'wx', mode: 0o644 });
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EEXIST')
            throw CliError.usage(`${o.out} exists already`, 'give --force to overwrite it, or another --out');
          throw CliError.usage(`cannot write ${o.out}: ${code ?? (err as Error).message}`);
        }
        ctx.note(`wrote ${o.out}: ${id} -> ${o.tokenFile}, API ${apiUrl}, key from $${o.apiKeyEnv}`);
        ctx.note(`run it: ${o.apiKeyEnv}=tk_... npx tokenkeeper agent run --config ${o.out}`);
      },
    );

  agent
    .command('run')
    .description('run the agent from this installation (the built apps/agent) until SIGINT or SIGTERM')
    .requiredOption('-c, --config <file>', 'the agent configuration (agent init writes one)')
    .option('--once', 'fetch every token, run every sink once, and exit (0 when all delivered)')
    .action(async (o: { config: string; once?: boolean }) => {
      if (!existsSync(AGENT_MAIN))
        throw new CliError(`the agent is not built (${AGENT_MAIN} is missing)`, 1, {
          hint: 'run `npm run build` in the clone',
        });
      const child = spawn(
        process.execPath,
        [AGENT_MAIN, '--config', o.config, ...(o.once ? ['--once'] : [])],
        {
          stdio: ['ignore', 'inherit', 'inherit'],
          env: ctx.io.env,
        },
      );
      const forward = (signal: NodeJS.Signals) => child.kill(signal);
      process.on('SIGINT', forward);
      process.on('SIGTERM', forward);
      const code = await new Promise<number>((resolve) =>
        child.once('exit', (c, signal) => resolve(c ?? (signal ? 0 : 1))),
      );
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      if (code !== 0) throw new CliError(`the agent exited with code ${code}`, code as ExitCode);
    });
}
