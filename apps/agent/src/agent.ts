import type { Logger } from 'pino';
import type { AgentConfig } from './config/agent-config.js';
import { outboundPolicy } from './http/outbound.js';
import { SecretRedactor } from './http/secret-redactor.js';
import { createSink } from './sinks/create-sink.js';
import type { Sink } from './sinks/sink.js';
import type { TokenSnapshot } from './sinks/token-snapshot.js';
import { fullJitterDelay } from './watch/backoff.js';
import { CredentialWatcher } from './watch/credential-watcher.js';
import { EventStream } from './watch/event-stream.js';
import { TokenkeeperApi } from './watch/tokenkeeper-api.js';

const SINK_RETRY_BASE_MS = 1000;
const SINK_RETRY_CAP_MS = 30_000;
const DEFAULT_MIN_TTL = 30;

interface SinkState {
  sink: Sink;
  ownerId: string;
  /** Token versions of the sink's credentials it last delivered (`id@v,…`). */
  deliveredKey?: string;
  deliveredAt?: number;
  failedKey?: string;
  failures: number;
  lastError?: string;
  running?: Promise<void>;
  again: boolean;
  retryTimer?: NodeJS.Timeout;
}

export interface AgentHealth {
  ready: boolean;
  credentials: Array<{ id: string; tokenVersion?: number; expiresAt?: string; stale: boolean }>;
  sinks: Array<{
    name: string;
    credentialId: string;
    delivered: boolean;
    deliveredAt?: string;
    failures: number;
    lastError?: string;
  }>;
}

/** Watches the configured credentials and runs every sink at start-up and on each new token. */
export class Agent {
  private readonly api: TokenkeeperApi;
  private readonly watchers = new Map<string, CredentialWatcher>();
  private readonly tokens = new Map<string, TokenSnapshot>();
  /** The token each credential had before its current one: a sink may still fail with it. */
  private readonly previousTokens = new Map<string, string>();
  private readonly sinks: SinkState[] = [];
  private readonly configured: string[];
  private readonly abort = new AbortController();
  private readonly redactor: SecretRedactor;
  private tasks: Promise<void>[] = [];

  constructor(
    private readonly config: AgentConfig,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.api = new TokenkeeperApi(config.api.url, config.api.apiKey, config.api.timeoutMs);
    this.redactor = new SecretRedactor(configuredSecrets(config), () => [
      ...[...this.tokens.values()].map((t) => t.accessToken),
      ...this.previousTokens.values(),
    ]);
    const ctx = { logger, redactor: this.redactor, outboundPolicy: outboundPolicy(config.outbound) };
    this.configured = config.credentials.map((c) => c.id);
    const minTtl = new Map(config.credentials.map((c) => [c.id, c.minTtl]));
    for (const credential of config.credentials) {
      for (const sinkConfig of credential.sinks) {
        const sink = createSink(credential.id, sinkConfig, ctx);
        this.sinks.push({ sink, ownerId: credential.id, failures: 0, again: false });
        // Credentials an MCP config names are watched too, even when not listed themselves.
        for (const id of sink.credentialIds) if (!minTtl.has(id)) minTtl.set(id, DEFAULT_MIN_TTL);
      }
    }
    for (const [id, ttl] of minTtl) {
      const watcher = new CredentialWatcher(
        id,
        ttl,
        this.api,
        config.api.pollIntervalSeconds * 1000,
        (token) => this.onToken(token),
        logger,
        this.redactor,
        now,
      );
      this.watchers.set(id, watcher);
    }
  }

  /** Starts watching; returns at once. */
  start(): void {
    const signal = this.abort.signal;
    this.tasks = [...this.watchers.values()].map((w) => w.run(signal));
    if (this.config.api.events) {
      const stream = new EventStream(
        this.api,
        [...this.watchers.keys()],
        this.logger,
        this.redactor,
        (event) => {
          if (event.credentialId) this.watchers.get(event.credentialId)?.wake();
        },
        () => {
          for (const w of this.watchers.values()) w.wake();
        },
      );
      this.tasks.push(stream.run(signal));
    }
  }

  /**
   * `--once`: fetch every token (a few attempts each), run every sink once, and report whether
   * all of them delivered.
   */
  async runOnce(attempts = 3): Promise<boolean> {
    const signal = this.abort.signal;
    let ok = true;
    await Promise.all(
      [...this.watchers.values()].map(async (watcher) => {
        for (let attempt = 1; ; attempt++) {
          try {
            await watcher.check(signal);
            if (watcher.token) return;
            throw new Error('the credential has no token yet');
          } catch (err) {
            if (attempt >= attempts) {
              ok = false;
              this.logger.error(
                { credentialId: watcher.credentialId, error: this.redactor.describe(err) },
                'no token',
              );
              return;
            }
            await new Promise((r) => setTimeout(r, Math.max(250, fullJitterDelay(attempt, 1000, 5000))));
          }
        }
      }),
    );
    for (const state of this.sinks) {
      const key = this.inputKey(state);
      if (key === undefined) {
        ok = false;
        continue;
      }
      if (!(await this.deliver(state, key))) ok = false;
    }
    return ok;
  }

  /** Stops watching, lets running sinks finish (bounded), and cancels pending retries. */
  async stop(graceMs = 5000): Promise<void> {
    this.abort.abort();
    for (const s of this.sinks) clearTimeout(s.retryTimer);
    const running = this.sinks.flatMap((s) => (s.running ? [s.running] : []));
    await Promise.race([
      Promise.allSettled([...this.tasks, ...running]),
      new Promise((r) => setTimeout(r, graceMs).unref()),
    ]);
  }

  health(): AgentHealth {
    const now = this.now();
    const credentials = this.configured.map((id) => {
      const t = this.tokens.get(id);
      return {
        id,
        ...(t ? { tokenVersion: t.tokenVersion, expiresAt: new Date(t.expiresAt).toISOString() } : {}),
        stale: !t || t.expiresAt <= now,
      };
    });
    const sinks = this.sinks.map((s) => ({
      name: s.sink.name,
      credentialId: s.ownerId,
      delivered: s.deliveredKey !== undefined,
      ...(s.deliveredAt ? { deliveredAt: new Date(s.deliveredAt).toISOString() } : {}),
      failures: s.failures,
      ...(s.lastError ? { lastError: s.lastError } : {}),
    }));
    return {
      ready: credentials.every((c) => !c.stale) && sinks.every((s) => s.delivered),
      credentials,
      sinks,
    };
  }

  private onToken(token: TokenSnapshot): void {
    const before = this.tokens.get(token.credentialId);
    if (before) this.previousTokens.set(token.credentialId, before.accessToken);
    this.tokens.set(token.credentialId, token);
    for (const state of this.sinks)
      if (state.sink.credentialIds.includes(token.credentialId)) this.schedule(state);
  }

  /** The versions a sink would render now, or undefined while one of its tokens is missing. */
  private inputKey(state: SinkState): string | undefined {
    const parts: string[] = [];
    for (const id of state.sink.credentialIds) {
      const t = this.tokens.get(id);
      if (!t) return undefined;
      parts.push(`${id}@${t.tokenVersion}`);
    }
    return parts.join(',');
  }

  /** Runs a sink if its input changed; one run at a time per sink, retried with backoff on failure. */
  private schedule(state: SinkState): void {
    if (this.abort.signal.aborted) return;
    if (state.running) {
      state.again = true;
      return;
    }
    const key = this.inputKey(state);
    if (key === undefined || key === state.deliveredKey) return;
    if (key === state.failedKey && state.retryTimer) return; // the retry timer will run it
    clearTimeout(state.retryTimer);
    state.retryTimer = undefined;
    state.running = this.deliver(state, key).then((ok) => {
      state.running = undefined;
      if (!ok && !this.abort.signal.aborted) {
        const delay = Math.max(250, fullJitterDelay(state.failures, SINK_RETRY_BASE_MS, SINK_RETRY_CAP_MS));
        state.retryTimer = setTimeout(() => {
          state.retryTimer = undefined;
          this.schedule(state);
        }, delay);
        this.logger.info({ sink: state.sink.name, retryInMs: delay }, 'sink will be retried');
      }
      if (state.again) {
        state.again = false;
        this.schedule(state);
      }
    });
  }

  private async deliver(state: SinkState, key: string): Promise<boolean> {
    const token = this.tokens.get(state.ownerId)!;
    const started = this.now();
    try {
      await state.sink.run({ token, tokens: this.tokens, now: started }, this.abort.signal);
      state.deliveredKey = key;
      state.deliveredAt = this.now();
      state.failedKey = undefined;
      state.failures = 0;
      state.lastError = undefined;
      this.logger.info(
        {
          sink: state.sink.name,
          credentialId: state.ownerId,
          tokenVersion: token.tokenVersion,
          ms: this.now() - started,
        },
        'sink delivered',
      );
      return true;
    } catch (err) {
      state.failedKey = key;
      state.failures += 1;
      state.lastError = this.redactor.describe(err);
      this.logger.warn(
        {
          sink: state.sink.name,
          credentialId: state.ownerId,
          tokenVersion: token.tokenVersion,
          attempt: state.failures,
          error: state.lastError,
        },
        'sink failed',
      );
      return false;
    }
  }
}

/** Secrets written in the configuration itself, masked in error messages like the tokens. */
function configuredSecrets(config: AgentConfig): string[] {
  const secrets = [config.api.apiKey];
  for (const credential of config.credentials)
    for (const sink of credential.sinks) {
      if (sink.type === 'file' && sink.format === 'oauth-tokens-json' && sink.refreshToken)
        secrets.push(sink.refreshToken);
      if (sink.type === 'http')
        for (const [name, value] of Object.entries(sink.headers))
          if (SECRET_HEADER.test(name)) secrets.push(...value.split(/\{\{[^}]*\}\}/));
    }
  return secrets;
}

const SECRET_HEADER = /authorization|cookie|token|key|secret|password/i;
