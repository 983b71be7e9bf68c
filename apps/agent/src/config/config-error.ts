/** A configuration that cannot be used. The message names the file, the line and the setting. */
export class AgentConfigError extends Error {
  readonly code = 'AGENT_CONFIG_INVALID';
  constructor(
    message: string,
    readonly problems: readonly string[] = [message],
  ) {
    super(message);
    this.name = 'AgentConfigError';
  }
}
