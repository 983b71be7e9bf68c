/** What the agent knows about one credential's current token. Holds the secret: never log it. */
export interface TokenSnapshot {
  credentialId: string;
  accessToken: string;
  tokenType: string;
  tokenVersion: number;
  /** Epoch milliseconds. */
  expiresAt: number;
  scope?: string;
}

/** The tokens a sink renders from: the credential it is configured under and any others it names. */
export interface RenderInput {
  /** The credential the sink belongs to. */
  token: TokenSnapshot;
  /** Every token the agent holds, by credential id (for sinks that reference several credentials). */
  tokens: ReadonlyMap<string, TokenSnapshot>;
  /** Epoch milliseconds at render time. */
  now: number;
}

/** `Bearer` spelled the way HTTP clients expect, whatever case the provider used. */
export function authScheme(tokenType: string): string {
  return tokenType.toLowerCase() === 'bearer' ? 'Bearer' : tokenType;
}
