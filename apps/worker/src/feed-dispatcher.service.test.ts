import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { newEvent } from '#core';
import type { StoredEvent } from '#store';
import { FeedDispatcher, type FeedSource } from '#webhooks';
import {
  InMemoryDeliveryLog,
  InMemoryProjections,
  InMemorySubscriptions,
  RecordingDeliveryQueue,
} from '../../../libs/webhooks/src/testing/in-memory-deliveries.js';
import { InMemoryFeed } from '../../../libs/webhooks/src/testing/in-memory-feed.js';
import { waitFor } from '../../../test/support/wait.js';
import { FEED_LOOP_DEFAULTS, FeedDispatcherService } from './feed-dispatcher.service.js';

const T0 = Date.UTC(2026, 0, 1);
const RETRY_MS = FEED_LOOP_DEFAULTS.retryWaitMs;
const CLAIM_EVERY_MS = FEED_LOOP_DEFAULTS.claimEveryMs;

type Read = 'pending' | 'new' | 'claim';
/** Entries a read dispatched, an error it threw, or `block`: it waits for `release` or `close`. */
type Answer = number | Error | 'block';
type Call = Read | 'ensureGroups' | 'wait' | 'close';

/**
 * Stands in for the FeedDispatcher (the only methods the service calls) and for the loop's retry
 * wait: every call is logged in order; reads answer from their script, then from `otherwise`.
 */
class ScriptedDispatcher {
  readonly calls: Call[] = [];
  readonly script: Record<Read, Answer[]> = { pending: [], new: [], claim: [] };
  readonly otherwise: Record<Read, Answer> = { pending: 0, new: 'block', claim: 0 };
  /** Whether close makes a blocked read throw (as a Redis read on a disconnected connection) or return 0. */
  closeThrows = true;
  ensureGroupsFails = false;
  readonly waitsMs: number[] = [];
  private closed = false;
  private blocked: { resolve: (n: number) => void; reject: (err: Error) => void } | undefined;
  private waiting: (() => void) | undefined;
  private watchers: { call: Call; times: number; resolve: () => void }[] = [];

  async ensureGroups(): Promise<void> {
    this.record('ensureGroups');
    if (this.ensureGroupsFails) throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
  }

  readAndDispatch(mode: 'new' | 'pending'): Promise<number> {
    return this.answer(mode);
  }

  claimAbandoned(): Promise<number> {
    return this.answer('claim');
  }

  close(): void {
    this.record('close');
    this.closed = true;
    const blocked = this.blocked;
    this.blocked = undefined;
    if (this.closeThrows) blocked?.reject(new Error('Connection is closed.'));
    else blocked?.resolve(0);
  }

  /** The loop's wait: it ends when the test calls `elapse`, or when the signal aborts. */
  readonly wait = (ms: number, signal: AbortSignal): Promise<void> => {
    this.record('wait');
    this.waitsMs.push(ms);
    return new Promise((resolve) => {
      this.waiting = resolve;
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  };

  /** Ends the wait in progress. */
  elapse(): void {
    this.waiting?.();
    this.waiting = undefined;
  }

  /** Ends the blocked read in progress with `count` entries dispatched. */
  release(count: number): void {
    if (!this.blocked) throw new Error('no read is blocked');
    const { resolve } = this.blocked;
    this.blocked = undefined;
    resolve(count);
  }

  /** Resolves once `call` was made `times` times in all. */
  until(call: Call, times = 1): Promise<void> {
    return new Promise((resolve) => {
      this.watchers.push({ call, times, resolve });
      this.notify();
    });
  }

  count(call: Call): number {
    return this.calls.filter((c) => c === call).length;
  }

  /** The calls made after `close` (the loop must make none). */
  afterClose(): Call[] {
    return this.calls.slice(this.calls.indexOf('close') + 1);
  }

  private answer(read: Read): Promise<number> {
    this.record(read);
    // As the Redis source: a read after close fails at once (the tests then see it in `calls`).
    if (this.closed) return Promise.reject(new Error('the feed source is closed'));
    const answer = this.script[read].shift() ?? this.otherwise[read];
    if (answer === 'block')
      return new Promise((resolve, reject) => {
        this.blocked = { resolve, reject };
      });
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
  }

  private record(call: Call): void {
    this.calls.push(call);
    this.notify();
  }

  private notify(): void {
    this.watchers = this.watchers.filter((w) => {
      if (this.count(w.call) < w.times) return true;
      w.resolve();
      return false;
    });
  }
}

let errors: MockInstance<Logger['error']>;
const running: FeedDispatcherService[] = [];

beforeEach(() => {
  errors = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.onApplicationShutdown()));
  vi.restoreAllMocks();
});

/** A started service over a scripted dispatcher, with a clock the test moves and its production periods. */
async function started(script: (d: ScriptedDispatcher) => void = () => undefined) {
  const d = new ScriptedDispatcher();
  script(d);
  let now = T0;
  const service = new FeedDispatcherService(d as unknown as FeedDispatcher, { now: () => now, wait: d.wait });
  running.push(service);
  await service.onApplicationBootstrap();
  return {
    d,
    service,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const failedLogs = () => errors.mock.calls.filter(([e]) => e?.msg === 'feed dispatch failed; retrying');

describe('FeedDispatcherService: backlog first', () => {
  it('backlog: the backlog is read again while it returns entries, and only once it returns 0 are new entries read', async () => {
    const { d } = await started((d) => {
      d.script.pending.push(5, 5, 2);
    });
    await d.until('new');
    expect(d.calls).toEqual(['ensureGroups', 'pending', 'pending', 'pending', 'pending', 'claim', 'new']);
  });

  it('backlog failure: a failing backlog read is logged and read again after the wait, before any new entry', async () => {
    const { d } = await started((d) => {
      d.script.pending.push(new Error('connect ECONNREFUSED 127.0.0.1:6379'), 3);
    });
    await d.until('wait');
    expect(d.calls).toEqual(['ensureGroups', 'pending', 'wait']);
    expect(d.waitsMs).toEqual([RETRY_MS]);
    expect(failedLogs()).toHaveLength(1);
    d.elapse();
    await d.until('new');
    expect(d.calls).toEqual(['ensureGroups', 'pending', 'wait', 'pending', 'pending', 'claim', 'new']);
  });

  it('new-entry failure: entries read but not dispatched are read again from the backlog after the wait, before new ones', async () => {
    const { d } = await started((d) => {
      d.script.new.push(new Error('enqueue failed'));
      d.script.pending.push(0, 2);
    });
    await d.until('wait');
    expect(d.calls).toEqual(['ensureGroups', 'pending', 'claim', 'new', 'wait']);
    d.elapse();
    await d.until('new', 2);
    expect(d.calls).toEqual(['ensureGroups', 'pending', 'claim', 'new', 'wait', 'pending', 'pending', 'new']);
  });

  it('backlog failure: a backlog that keeps failing is retried after every wait, never skipped, and shutdown still ends the loop', async () => {
    const { d, service } = await started((d) => {
      d.otherwise.pending = new Error('connect ECONNREFUSED 127.0.0.1:6379');
    });
    for (let round = 1; round <= 3; round += 1) {
      await d.until('wait', round);
      d.elapse();
    }
    await d.until('wait', 4);
    // Shutdown during a wait the test never ends: the wait is cut short.
    await service.onApplicationShutdown();
    expect(d.count('pending')).toBe(4);
    expect(d.count('new') + d.count('claim')).toBe(0);
    expect(d.waitsMs).toEqual([RETRY_MS, RETRY_MS, RETRY_MS, RETRY_MS]);
    expect(failedLogs()).toHaveLength(4);
    expect(d.afterClose()).toEqual([]);
  });

  it('retry wait: production waits 1 s after a failure and claims every 10 s; its wait ends as soon as shutdown aborts it', async () => {
    expect(FEED_LOOP_DEFAULTS).toMatchObject({ retryWaitMs: 1_000, claimEveryMs: 10_000, now: Date.now });
    const stop = new AbortController();
    const waited = FEED_LOOP_DEFAULTS.wait(60_000, stop.signal);
    stop.abort();
    await expect(waited).resolves.toBeUndefined();
    await expect(FEED_LOOP_DEFAULTS.wait(60_000, stop.signal)).resolves.toBeUndefined();
  });
});

describe('FeedDispatcherService: errors', () => {
  it('NOGROUP: the groups are created again without an error logged, and reading goes on after the wait', async () => {
    const { d } = await started((d) => {
      d.script.new.push(new Error('NOGROUP No such key or consumer group'));
    });
    await d.until('wait');
    expect(d.calls).toEqual(['ensureGroups', 'pending', 'claim', 'new', 'ensureGroups', 'wait']);
    d.elapse();
    await d.until('new', 2);
    // The re-created group holds no backlog: one empty read of it, then new entries.
    expect(d.calls.slice(-3)).toEqual(['wait', 'pending', 'new']);
    expect(errors).not.toHaveBeenCalled();
  });

  it('NOGROUP: when creating the groups fails too, the loop waits and reads again', async () => {
    const { d } = await started((d) => {
      d.script.pending.push(new Error('NOGROUP No such key or consumer group'));
    });
    d.ensureGroupsFails = true;
    await d.until('wait');
    expect(d.calls).toEqual(['ensureGroups', 'pending', 'ensureGroups', 'wait']);
    d.elapse();
    await d.until('new');
    expect(d.calls.slice(-4)).toEqual(['wait', 'pending', 'claim', 'new']);
  });
});

describe('FeedDispatcherService: taking over abandoned entries', () => {
  it('claim: abandoned entries are claimed at most once per claim period, however many reads run in it', async () => {
    const { d, advance } = await started((d) => {
      d.script.new.push(3, 0, 7);
    });
    await d.until('new', 4);
    expect(d.count('claim')).toBe(1);
    advance(CLAIM_EVERY_MS - 1);
    d.release(2);
    await d.until('new', 5);
    expect(d.count('claim')).toBe(1);
    advance(2);
    d.release(0);
    await d.until('new', 6);
    expect(d.calls.slice(-2)).toEqual(['claim', 'new']);
    d.release(1);
    await d.until('new', 7);
    expect(d.count('claim')).toBe(2);
  });

  it('claim: a failed claim is logged, and not tried again before the next period', async () => {
    const { d, advance } = await started((d) => {
      d.script.claim.push(new Error('connect ECONNREFUSED 127.0.0.1:6379'));
    });
    await d.until('wait');
    expect(d.calls).toEqual(['ensureGroups', 'pending', 'claim', 'wait']);
    expect(failedLogs()).toHaveLength(1);
    d.elapse();
    await d.until('new');
    expect(d.count('claim')).toBe(1);
    advance(CLAIM_EVERY_MS + 1);
    d.release(0);
    await d.until('claim', 2);
  });
});

describe('FeedDispatcherService: shutdown', () => {
  it.each([
    ['throws', true],
    ['returns', false],
  ])(
    'shutdown: during a blocked read of new entries, close cuts the read (it %s), the loop ends, nothing is read after',
    async (_, closeThrows) => {
      const { d, service } = await started((d) => {
        d.closeThrows = closeThrows;
      });
      await d.until('new');
      await service.onApplicationShutdown();
      expect(d.calls).toEqual(['ensureGroups', 'pending', 'claim', 'new', 'close']);
      expect(failedLogs()).toEqual([]);
    },
  );

  it('shutdown: during a claim that still completes, nothing is read after close', async () => {
    const { d, service } = await started((d) => {
      d.script.claim.push('block');
      d.closeThrows = false;
    });
    await d.until('claim');
    await service.onApplicationShutdown();
    expect(d.calls).toEqual(['ensureGroups', 'pending', 'claim', 'close']);
  });

  it('shutdown: during a backlog read, nothing is read after close', async () => {
    const { d, service } = await started((d) => {
      d.script.pending.push('block');
    });
    await d.until('pending');
    await service.onApplicationShutdown();
    expect(d.calls).toEqual(['ensureGroups', 'pending', 'close']);
  });
});

/**
 * The in-memory source of `consumer`, whose readNew waits (as a blocking XREADGROUP does) when
 * nothing is new, until `wake` (call it after appending) or close.
 */
function blockingSource(feed: InMemoryFeed, consumer: string) {
  const inner = feed.source(consumer);
  let closed = false;
  let woken = false;
  let waiter: (() => void) | undefined;
  const wake = () => {
    woken = true;
    waiter?.();
  };
  const source: FeedSource = {
    ...inner,
    async readNew() {
      for (;;) {
        if (closed) throw new Error('the feed source is closed');
        woken = false;
        const batch = await inner.readNew();
        if (batch.entries.length + batch.unreadable.length > 0) return batch;
        if (!woken)
          await new Promise<void>((resolve) => {
            waiter = resolve;
          });
        waiter = undefined;
      }
    },
    close() {
      closed = true;
      inner.close();
      wake();
    },
  };
  return { source, wake };
}

describe('FeedDispatcherService over the FeedDispatcher and an in-memory feed', () => {
  it('an event appended to the feed becomes a delivery job of the subscription, and its entry is acknowledged', async () => {
    const feed = new InMemoryFeed(() => T0);
    const { source, wake } = blockingSource(feed, 'worker-1');
    const subscriptions = new InMemorySubscriptions();
    subscriptions.subscriptions.push({
      id: 'sub_1',
      namespace: 'team-a',
      url: 'https://hooks.example/1',
      eventTypes: [],
      labelSelector: {},
      enabled: true,
      createdAt: T0,
      updatedAt: T0,
    });
    const queue = new RecordingDeliveryQueue();
    const dispatcher = new FeedDispatcher(
      source,
      subscriptions,
      new InMemoryDeliveryLog(),
      queue,
      new InMemoryProjections(),
      { now: () => T0 },
    );
    // Only its wait is used: a retry would show in `retries.calls`, and wait until shutdown.
    const retries = new ScriptedDispatcher();
    const service = new FeedDispatcherService(dispatcher, { wait: retries.wait });
    running.push(service);
    await service.onApplicationBootstrap();
    const event = {
      ...newEvent('credential.updated', T0, { name: 'renamed', secretsChanged: [] }),
      credentialId: 'cred_a',
      revision: 2,
      namespace: 'team-a',
    } as StoredEvent;
    const ref = feed.append(1, event);
    wake();
    await waitFor(() => feed.acked.length === 1, { message: 'the entry acknowledged' });
    expect(queue.data).toEqual([
      { subscriptionId: 'sub_1', deliveryId: `p1-${ref.id}`, partition: 1, feedId: ref.id },
    ]);
    expect(feed.acked).toEqual([ref]);
    await service.onApplicationShutdown();
    expect(feed.pendingOf()).toEqual([]);
    expect(retries.calls).toEqual([]);
  });
});

describe('FeedDispatcherService in a Nest module', () => {
  it('DI: Nest builds it from the dispatcher alone (production timing), runs the loop at bootstrap and ends it at close', async () => {
    const d = new ScriptedDispatcher();
    @Module({ providers: [{ provide: FeedDispatcher, useValue: d }, FeedDispatcherService] })
    class LoopModule {}
    const app = await NestFactory.createApplicationContext(LoopModule, {
      logger: false,
      abortOnError: false,
    });
    await app.init();
    await d.until('new');
    await app.close();
    expect(d.calls).toEqual(['ensureGroups', 'pending', 'claim', 'new', 'close']);
  });
});
