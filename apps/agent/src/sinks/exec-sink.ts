import { spawn } from 'node:child_process';
import type { ExecSinkConfig } from '../config/agent-config.js';
import { commandEnvironment } from './command-env.js';
import type { Sink } from './sink.js';
import type { RenderInput } from './token-snapshot.js';

const KILL_GRACE_MS = 2000;

/**
 * Runs a command on every new token. The token goes through the environment (`TK_ACCESS_TOKEN`)
 * or stdin, never argv, where any user on the host can read it with `ps`. The command gets a
 * clean environment (see command-env.ts), never the agent's API key.
 */
export class ExecSink implements Sink {
  readonly name: string;
  readonly credentialIds: readonly string[];

  constructor(
    ownerId: string,
    private readonly config: ExecSinkConfig,
  ) {
    this.name = `exec:${config.command}`;
    this.credentialIds = [ownerId];
  }

  run(input: RenderInput, signal: AbortSignal): Promise<void> {
    const { config } = this;
    const token = input.token;
    const tokenVariables: Record<string, string> = {
      TK_CREDENTIAL_ID: token.credentialId,
      TK_TOKEN_TYPE: token.tokenType,
      TK_TOKEN_VERSION: String(token.tokenVersion),
      TK_EXPIRES_AT: new Date(token.expiresAt).toISOString(),
      ...(config.tokenVia === 'env' ? { TK_ACCESS_TOKEN: token.accessToken } : {}),
    };
    // spawn() would refuse it with an error that quotes the whole value.
    for (const [name, value] of Object.entries(tokenVariables))
      if (value.includes('\0'))
        return Promise.reject(
          new Error(
            `${name} of ${token.credentialId} holds a NUL character and cannot be passed to ${config.command}`,
          ),
        );
    const env = commandEnvironment(process.env, config, tokenVariables);

    return new Promise((resolve, reject) => {
      const child = spawn(config.command, config.args, {
        env,
        ...(config.cwd ? { cwd: config.cwd } : {}),
        stdio: [config.tokenVia === 'stdin' ? 'pipe' : 'ignore', 'ignore', 'ignore'],
      });
      let reason: string | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      const stop = (why: string) => {
        reason ??= why;
        child.kill('SIGTERM');
        killTimer ??= setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      };
      const timer = setTimeout(() => stop(`timed out after ${config.timeoutMs} ms`), config.timeoutMs);
      const onAbort = () => stop('the agent is shutting down');
      signal.addEventListener('abort', onAbort, { once: true });
      const done = (err?: Error) => {
        clearTimeout(timer);
        clearTimeout(killTimer);
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      child.once('error', (err) => done(new Error(`cannot run ${config.command}: ${err.message}`)));
      child.once('exit', (code, sig) => {
        if (reason) done(new Error(`${config.command} ${reason}`));
        else if (code === 0) done();
        else done(new Error(`${config.command} exited with ${code ?? sig}`));
      });
      if (child.stdin) {
        child.stdin.on('error', () => {}); // a command that ignores stdin may close it early
        child.stdin.end(token.accessToken);
      }
    });
  }
}
