import { spawn } from 'node:child_process';
import type { ExecSinkConfig } from '../config/agent-config.js';
import type { Sink } from './sink.js';
import type { RenderInput } from './token-snapshot.js';

/** Variables of the agent's own environment that a command must not inherit. */
const WITHHELD = ['TK_API_KEY'];
const KILL_GRACE_MS = 2000;

/**
 * Runs a command on every new token. The token goes through the environment (`TK_ACCESS_TOKEN`)
 * or stdin, never argv, where any user on the host can read it with `ps`.
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
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env))
      if (v !== undefined && !WITHHELD.includes(k)) env[k] = v;
    Object.assign(env, config.env, {
      TK_CREDENTIAL_ID: token.credentialId,
      TK_TOKEN_TYPE: token.tokenType,
      TK_TOKEN_VERSION: String(token.tokenVersion),
      TK_EXPIRES_AT: new Date(token.expiresAt).toISOString(),
      ...(config.tokenVia === 'env' ? { TK_ACCESS_TOKEN: token.accessToken } : {}),
    });

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
