/**
 * The environment a command run by the agent gets: a few harmless variables of the agent's own
 * environment, those the configuration names in `passEnv`, those it sets in `env`, and the
 * token's. Nothing else: the agent's environment holds its API key (`TK_API_KEY`,
 * `TOKENKEEPER_API_KEY` in the shipped deploy files) and whatever its supervisor put there.
 */

/** Inherited by every command: what a program needs to find binaries, its home, locale and time zone. */
export const DEFAULT_PASS_ENV = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LANGUAGE',
  'LC_ALL',
  'LC_CTYPE',
  'LC_MESSAGES',
  'TZ',
  'TMPDIR',
] as const;

/** Names of the agent's own variables (its key, its settings, the token it hands over). */
export const COMMAND_ENV_RESERVED = /^(TK|TOKENKEEPER)_/i;
const API_KEY_LIKE = /API_?KEY/i;

/** Why `passEnv` may not name `name`, or undefined when it may. */
export function refusedPassEnvName(name: string): string | undefined {
  if (COMMAND_ENV_RESERVED.test(name))
    return `${name} is one of the agent's own variables (TK_*, TOKENKEEPER_*) and is never passed to a command`;
  if (API_KEY_LIKE.test(name))
    return `${name} looks like an API key and is never passed to a command; set what the command needs in env`;
  return undefined;
}

/**
 * The command's environment. `passEnv` names are checked again here, so a configuration built
 * without the schema cannot hand over the agent's key either.
 */
export function commandEnvironment(
  agentEnv: Readonly<Record<string, string | undefined>>,
  options: { passEnv: readonly string[]; env: Readonly<Record<string, string>> },
  tokenVariables: Readonly<Record<string, string>>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of [...DEFAULT_PASS_ENV, ...options.passEnv]) {
    const value = agentEnv[name];
    if (value !== undefined && refusedPassEnvName(name) === undefined) env[name] = value;
  }
  for (const [name, value] of Object.entries(options.env))
    if (!COMMAND_ENV_RESERVED.test(name)) env[name] = value;
  return Object.assign(env, tokenVariables);
}
