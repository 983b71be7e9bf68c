import type { Logger } from 'pino';
import type { OutboundPolicy } from '#common';
import type { SecretRedactor } from '../http/secret-redactor.js';
import type { RenderInput } from './token-snapshot.js';

/** One output of the agent: runs with the current token(s); throws when it could not deliver. */
export interface Sink {
  /** Names the sink in logs and health output (`file:/path`, `http:https://host/path`…), no secret. */
  readonly name: string;
  /** Every credential whose token the sink uses; it runs again when any of them changes. */
  readonly credentialIds: readonly string[];
  run(input: RenderInput, signal: AbortSignal): Promise<void>;
}

export interface SinkContext {
  logger: Logger;
  /** Masks secrets in error messages before they are logged. */
  redactor: SecretRedactor;
  /** Where http sinks may connect. */
  outboundPolicy: OutboundPolicy;
}
