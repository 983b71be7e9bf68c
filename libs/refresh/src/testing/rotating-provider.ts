import type { GrantFailure } from '#core';
import { type GrantClient, GrantError, type GrantRequest } from '#grants';
import type { Clock, TimedGrantResult } from '../ports.js';

/**
 * A token endpoint that rotates refresh tokens. Strict (`graceSeconds` 0): presenting a consumed
 * token answers `invalid_grant` and revokes the grant (oidc-provider, Auth0 without a reuse
 * interval). With a grace period, a consumed token presented again within it gets a valid answer
 * (Okta, Atlassian, Xero).
 */
export class RotatingProvider {
  private seq = 0;
  current: string;
  revoked = false;
  private readonly consumed = new Map<string, { at: number; successor: string }>();
  /** Every presentation, in order: the refresh token and whether the provider accepted it. */
  readonly presented: { refreshToken: string; accepted: boolean }[] = [];
  /** Access tokens the provider considers valid. */
  readonly valid = new Set<string>();

  constructor(
    private readonly clock: Clock,
    private readonly graceSeconds = 0,
    first = 'rt-0',
  ) {
    this.current = first;
  }

  present(refreshToken: string | undefined): { accessToken: string; refreshToken: string } {
    const rt = refreshToken ?? '';
    const reused = this.consumed.get(rt);
    const inGrace = reused && this.clock.now() < reused.at + this.graceSeconds * 1000;
    if (this.revoked || (rt !== this.current && !inGrace)) {
      this.presented.push({ refreshToken: rt, accepted: false });
      // Reuse of a consumed token outside any grace: the whole grant dies.
      if (reused) {
        this.revoked = true;
        this.valid.clear();
      }
      throw new GrantError({
        type: 'oauth_error',
        error: 'invalid_grant',
        status: 400,
        description: 'grant revoked',
      });
    }
    this.presented.push({ refreshToken: rt, accepted: true });
    this.seq += 1;
    const next = `rt-${this.seq}`;
    if (rt === this.current) {
      this.consumed.set(rt, { at: this.clock.now(), successor: next });
      this.current = next;
    }
    const accessToken = `at-${this.seq}`;
    this.valid.add(accessToken);
    return { accessToken, refreshToken: this.current };
  }
}

/**
 * What happens to one request on the way: `answer` at once; `hold` until `release()` (an answer
 * past the timeout); `lose` the answer after the provider processed it (outcome unknown);
 * `drop` the request before it arrives (outcome unknown too, from our side); `hang` forever after
 * the provider processed it, `vanish` forever before it arrived (the worker dies with the request
 * in flight); `unavailable`: a gateway answers 503 before the provider sees it.
 */
export type Delivery = 'answer' | 'hold' | 'lose' | 'drop' | 'hang' | 'vanish' | 'unavailable';

export class ScriptedGrantClient implements GrantClient {
  /** Deliveries for the next requests, in order; `answer` once it runs out. */
  readonly plan: Delivery[] = [];
  readonly requests: (GrantRequest & { deadlineMs?: number })[] = [];
  private readonly held: (() => void)[] = [];
  /** Runs when the provider's answer arrives, before it is handed back (to stall the caller). */
  onAnswer?: () => void;

  constructor(
    private readonly provider: RotatingProvider,
    private readonly clock: Clock,
    private readonly expiresInSeconds = 300,
  ) {}

  async execute(request: GrantRequest): Promise<TimedGrantResult> {
    this.requests.push(request);
    const delivery = this.plan.shift() ?? 'answer';
    const sentAt = this.clock.now();
    if (delivery === 'vanish') return new Promise(() => undefined);
    if (delivery === 'unavailable') throw new GrantError({ type: 'http_status', status: 503 });
    if (delivery === 'drop') throw unknownOutcome('connection reset after the request was sent');
    let answer: { accessToken: string; refreshToken: string } | GrantError;
    try {
      answer = this.provider.present(request.secrets.refreshToken);
    } catch (err) {
      if (!(err instanceof GrantError)) throw err;
      answer = err;
    }
    if (delivery === 'hang') return new Promise(() => undefined);
    if (delivery === 'lose') throw unknownOutcome('no answer within 10 s after the request was sent');
    if (delivery === 'hold') await new Promise<void>((resolve) => this.held.push(resolve));
    this.onAnswer?.();
    if (answer instanceof GrantError) throw answer;
    return {
      accessToken: answer.accessToken,
      refreshToken: answer.refreshToken,
      tokenType: 'Bearer',
      expiresInSeconds: this.expiresInSeconds,
      sentAt,
      receivedAt: this.clock.now(),
    };
  }

  /** Delivers the oldest held answer. */
  release(): void {
    this.held.shift()?.();
  }
}

function unknownOutcome(message: string): GrantError {
  return new GrantError({
    type: 'classified',
    class: 'transient',
    code: 'OUTCOME_UNKNOWN',
    message,
    outcome: 'unknown',
  } as GrantFailure);
}
