import type { Logger } from 'pino';
import type { SecretRedactor } from '../http/secret-redactor.js';
import type { TokenSnapshot } from '../sinks/token-snapshot.js';
import { fullJitterDelay } from './backoff.js';
import { ApiError, type CredentialStatus, type TokenkeeperApi } from './tokenkeeper-api.js';

const MIN_DELAY_MS = 200;
/** How long after `refreshAt` to look: the worker needs a moment to run the refresh. */
const AFTER_REFRESH_MS = 300;
/** Poll interval while a refresh is overdue (running, or retrying on the server). */
const OVERDUE_POLL_MS = 1000;
const MAX_BACKOFF_MS = 30_000;

/**
 * When to look again: just after the service's scheduled refresh, before our token drops under
 * `minTtl` (then the token read makes the API refresh), and at least every `pollIntervalMs`.
 */
export function nextPollDelay(
  status: CredentialStatus,
  token: TokenSnapshot | undefined,
  now: number,
  pollIntervalMs: number,
  minTtlMs: number,
): number {
  let delay = pollIntervalMs;
  if (status.tokenVersion === 0) delay = Math.min(delay, OVERDUE_POLL_MS);
  if (status.refreshAt !== undefined) {
    const untilRefresh = status.refreshAt - now;
    delay = Math.min(delay, untilRefresh > 0 ? untilRefresh + AFTER_REFRESH_MS : OVERDUE_POLL_MS);
  }
  if (token) delay = Math.min(delay, token.expiresAt - minTtlMs - now);
  return Math.max(MIN_DELAY_MS, delay);
}

/**
 * Keeps the current token of one credential: polls its status (cheap, no secret) and reads the
 * token only when the version changed or ours runs short. Errors back off and keep the last
 * token; the sinks keep their last good output meanwhile.
 */
export class CredentialWatcher {
  private current: TokenSnapshot | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private failures = 0;

  constructor(
    readonly credentialId: string,
    private readonly minTtlSeconds: number,
    private readonly api: TokenkeeperApi,
    private readonly pollIntervalMs: number,
    private readonly onToken: (token: TokenSnapshot) => void,
    private readonly logger: Logger,
    private readonly redactor: SecretRedactor,
    private readonly now: () => number = Date.now,
  ) {}

  get token(): TokenSnapshot | undefined {
    return this.current;
  }

  /** Look now (an event said something changed). */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** One look: fetches the token when needed; returns the status. Throws ApiError. */
  async check(signal: AbortSignal): Promise<CredentialStatus> {
    const status = await this.api.status(this.credentialId, signal);
    const have = this.current;
    const short = have !== undefined && have.expiresAt - this.now() < this.minTtlSeconds * 1000;
    if (
      status.tokenVersion > 0 &&
      (have === undefined || status.tokenVersion !== have.tokenVersion || short)
    ) {
      const token = await this.api.token(this.credentialId, this.minTtlSeconds, signal);
      if (!have || token.tokenVersion !== have.tokenVersion) {
        this.current = token;
        this.logger.info(
          {
            credentialId: this.credentialId,
            tokenVersion: token.tokenVersion,
            expiresAt: new Date(token.expiresAt).toISOString(),
          },
          'new token',
        );
        this.onToken(token);
      }
    }
    return status;
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      this.woken = false;
      let delay: number;
      try {
        const status = await this.check(signal);
        if (this.failures > 0) this.logger.info({ credentialId: this.credentialId }, 'API reachable again');
        this.failures = 0;
        delay = nextPollDelay(
          status,
          this.current,
          this.now(),
          this.pollIntervalMs,
          this.minTtlSeconds * 1000,
        );
      } catch (err) {
        if (signal.aborted) return;
        this.failures += 1;
        const retryAfter = err instanceof ApiError ? err.retryAfterMs : undefined;
        delay = Math.max(MIN_DELAY_MS, retryAfter ?? fullJitterDelay(this.failures, 1000, MAX_BACKOFF_MS));
        this.logger[this.failures === 1 ? 'warn' : 'debug'](
          {
            credentialId: this.credentialId,
            error: this.redactor.describe(err),
            kind: err instanceof ApiError ? err.kind : 'internal',
            attempt: this.failures,
            retryInMs: delay,
          },
          'cannot read the credential; keeping the last token',
        );
      }
      if (this.woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, delay);
        const self = this;
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          self.wakeUp = undefined;
          resolve();
        }
        this.wakeUp = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }
}
