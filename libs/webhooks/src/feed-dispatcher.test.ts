import { describe, expect, it } from 'vitest';
import { type CredentialProjection, type NewEvent, newEvent } from '#core';
import type { StoredEvent } from '#store';
import { FeedDispatcher } from './feed-dispatcher.js';
import type { FeedRef } from './feed-source.js';
import type { Subscription } from './subscription.js';
import {
  InMemoryDeliveryLog,
  InMemoryProjections,
  InMemorySubscriptions,
  RecordingDeliveryQueue,
} from './testing/in-memory-deliveries.js';
import { InMemoryFeed } from './testing/in-memory-feed.js';

const NS = 'team-a';
const T0 = Date.UTC(2026, 0, 1);
const CLAIM_IDLE_MS = 30_000;

function setup() {
  let now = T0;
  const feed = new InMemoryFeed(() => now, { batch: 100, claimIdleMs: CLAIM_IDLE_MS });
  const subscriptions = new InMemorySubscriptions();
  const log = new InMemoryDeliveryLog();
  const queue = new RecordingDeliveryQueue();
  const credentials = new InMemoryProjections();
  const unreadable: FeedRef[] = [];
  const dispatcher = (consumer = 'worker-1') =>
    new FeedDispatcher(feed.source(consumer), subscriptions, log, queue, credentials, {
      now: () => now,
      onUnreadable: (refs) => unreadable.push(...refs),
    });
  let n = 0;
  const subscribe = (overrides: Partial<Subscription> = {}): Subscription => {
    n += 1;
    const sub: Subscription = {
      id: `sub_${n}`,
      namespace: NS,
      url: `https://hooks.example/${n}`,
      eventTypes: [],
      labelSelector: {},
      enabled: true,
      createdAt: T0,
      updatedAt: T0,
      ...overrides,
    };
    subscriptions.subscriptions.push(sub);
    return sub;
  };
  return {
    feed,
    log,
    queue,
    credentials,
    unreadable,
    dispatcher,
    subscribe,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

/** A dispatcher of consumer `worker-1` whose group exists, and one subscription to every event of NS. */
async function running() {
  const t = setup();
  const sub = t.subscribe();
  const d = t.dispatcher();
  await d.ensureGroups();
  return { ...t, sub, d };
}

/** A stored event of credential `credentialId` in `namespace` (a rename unless told otherwise). */
function stored(
  credentialId: string,
  namespace = NS,
  event: NewEvent = newEvent('credential.updated', T0, { name: 'renamed', secretsChanged: [] }),
  revision = 2,
): StoredEvent {
  return { ...event, credentialId, revision, namespace } as StoredEvent;
}

function projection(id: string, labels: Record<string, string>): CredentialProjection {
  return { id, namespace: NS, labels } as CredentialProjection;
}

describe('FeedDispatcher: which subscriptions get an event', () => {
  it('match: one delivery job per enabled subscription of the event namespace that wants its type', async () => {
    const t = setup();
    const all = t.subscribe();
    const renames = t.subscribe({ eventTypes: ['credential.updated'] });
    t.subscribe({ eventTypes: ['credential.expired'] });
    t.subscribe({ enabled: false });
    t.subscribe({ namespace: 'team-b' });
    await t.dispatcher().ensureGroups();
    const ref = t.feed.append(2, { ...stored('cred_a'), traceparent: '00-trace-span-01' });
    expect(await t.dispatcher().readAndDispatch('new')).toBe(1);
    expect(t.queue.jobs).toEqual(
      [all, renames].map((sub) => ({
        data: { subscriptionId: sub.id, deliveryId: `p2-${ref.id}`, partition: 2, feedId: ref.id },
        redrive: 0,
        traceparent: '00-trace-span-01',
      })),
    );
    expect([...t.log.records.values()].map((r) => [r.subscriptionId, r.status, r.createdAt])).toEqual([
      [all.id, 'pending', T0],
      [renames.id, 'pending', T0],
    ]);
    expect(t.feed.acked).toEqual([ref]);
  });

  it('namespace: an event of another namespace reaches none of this namespace subscriptions, and is acknowledged', async () => {
    const t = setup();
    t.subscribe();
    await t.dispatcher().ensureGroups();
    const ref = t.feed.append(0, stored('cred_b', 'team-b'));
    await t.dispatcher().readAndDispatch('new');
    expect(t.queue.jobs).toEqual([]);
    expect(t.log.records.size).toBe(0);
    expect(t.feed.acked).toEqual([ref]);
    expect(t.feed.pendingOf()).toEqual([]);
  });

  it('labels: a selector is matched against the labels the event carries, else the credential current ones; unknown labels match nothing', async () => {
    const t = setup();
    const sub = t.subscribe({ labelSelector: { team: 'a' } });
    t.credentials.projections.set('cred_labelled', projection('cred_labelled', { team: 'a' }));
    t.credentials.projections.set('cred_other', projection('cred_other', { team: 'b' }));
    const d = t.dispatcher();
    await d.ensureGroups();
    const registered = newEvent('credential.registered', T0, {
      namespace: NS,
      kind: 'static',
      name: 'n',
      labels: { team: 'a' },
      grant: { clientAuth: 'none' },
      policy: {},
    });
    const wanted = [
      t.feed.append(0, stored('cred_new', NS, registered, 1)),
      t.feed.append(1, stored('cred_labelled')),
    ];
    t.feed.append(1, stored('cred_other'));
    t.feed.append(2, stored('cred_gone'));
    expect(await d.readAndDispatch('new')).toBe(4);
    expect(t.queue.data).toEqual(
      wanted.map((ref) => expect.objectContaining({ subscriptionId: sub.id, feedId: ref.id })),
    );
    expect(t.feed.acked).toHaveLength(4);
  });

  it('order: the jobs of a batch are enqueued in feed order across partitions', async () => {
    const t = setup();
    t.subscribe();
    await t.dispatcher().ensureGroups();
    const refs = [2, 0, 1, 0].map((p, i) => t.feed.append(p, stored(`cred_${i}`)));
    await t.dispatcher().readAndDispatch('new');
    expect(t.queue.data.map((d) => `${d.partition}/${d.feedId}`)).toEqual(
      refs.map((r) => `${r.partition}/${r.id}`),
    );
  });

  it('history: the group starts at the feed end, so events from before the first start are not delivered', async () => {
    const t = setup();
    t.subscribe();
    t.feed.append(0, stored('cred_old'));
    const d = t.dispatcher();
    await d.ensureGroups();
    await d.ensureGroups();
    expect(await d.readAndDispatch('new')).toBe(0);
    const ref = t.feed.append(0, stored('cred_new'));
    expect(await d.readAndDispatch('new')).toBe(1);
    expect(t.queue.data.map((j) => j.feedId)).toEqual([ref.id]);
  });
});

describe('FeedDispatcher: acknowledgement (at least once)', () => {
  it('ack: an entry is acknowledged only after its delivery jobs are enqueued', async () => {
    const t = setup();
    t.subscribe();
    await t.dispatcher().ensureGroups();
    const ref = t.feed.append(0, stored('cred_a'));
    const pendingAtEnqueue: FeedRef[][] = [];
    t.queue.beforeEnqueue = () => pendingAtEnqueue.push(t.feed.pendingOf('worker-1'));
    await t.dispatcher().readAndDispatch('new');
    expect(pendingAtEnqueue).toEqual([[ref]]);
    expect(t.feed.acked).toEqual([ref]);
  });

  it('ack: an entry no subscription wants is acknowledged all the same', async () => {
    const t = setup();
    await t.dispatcher().ensureGroups();
    const ref = t.feed.append(1, stored('cred_a'));
    expect(await t.dispatcher().readAndDispatch('new')).toBe(1);
    expect(t.queue.jobs).toEqual([]);
    expect(t.feed.acked).toEqual([ref]);
  });

  it('failure: a failed enqueue leaves the batch pending, and re-reading the backlog delivers it once', async () => {
    const t = await running();
    const { sub, d } = t;
    const refs = [t.feed.append(0, stored('cred_a')), t.feed.append(1, stored('cred_b'))];
    t.queue.failEnqueues = 1;
    await expect(d.readAndDispatch('new')).rejects.toThrow('ECONNREFUSED');
    expect(t.feed.acked).toEqual([]);
    expect(t.feed.pendingOf('worker-1')).toEqual(refs);
    // Nothing new to read: the failed entries come back only from this consumer's backlog.
    expect(await d.readAndDispatch('new')).toBe(0);
    expect(await d.readAndDispatch('pending')).toBe(2);
    expect(t.queue.data.map((j) => [j.subscriptionId, j.feedId])).toEqual(refs.map((r) => [sub.id, r.id]));
    expect(t.feed.acked).toEqual(refs);
    expect(await d.readAndDispatch('pending')).toBe(0);
  });

  it('re-read: a delivery that already ran is not enqueued again when its entry is dispatched a second time', async () => {
    const t = await running();
    const { d } = t;
    const ref = t.feed.append(0, stored('cred_a'));
    const [entry] = (await t.feed.source('peek').readNew()).entries;
    await d.dispatch([entry!]);
    for (const r of t.log.records.values())
      r.attempts.push({ at: T0, durationMs: 5, outcome: 'failure', statusCode: 500 });
    await d.dispatch([entry!]);
    expect(t.queue.data.map((j) => j.feedId)).toEqual([ref.id]);
  });

  it('claim: entries a dead worker left unacknowledged are taken over once idle long enough, and delivered', async () => {
    const t = setup();
    t.subscribe();
    const dead = t.dispatcher('worker-dead');
    const alive = t.dispatcher('worker-alive');
    await dead.ensureGroups();
    const ref = t.feed.append(0, stored('cred_a'));
    t.queue.failEnqueues = 1;
    await expect(dead.readAndDispatch('new')).rejects.toThrow();
    expect(await alive.readAndDispatch('new')).toBe(0);
    t.advance(CLAIM_IDLE_MS - 1);
    expect(await alive.claimAbandoned()).toBe(0);
    t.advance(1);
    expect(await alive.claimAbandoned()).toBe(1);
    expect(t.queue.data.map((j) => j.feedId)).toEqual([ref.id]);
    expect(t.feed.acked).toEqual([ref]);
    expect(t.feed.pendingOf()).toEqual([]);
  });
});

describe('FeedDispatcher: entries that hold no event', () => {
  it('poison: entries that are not JSON, not an event, or were trimmed are acknowledged and told; the rest of the batch is delivered', async () => {
    const t = await running();
    const { d } = t;
    const first = t.feed.append(0, stored('cred_a'));
    const notJson = t.feed.appendRaw(1, '{"type":');
    const notEvent = t.feed.appendRaw(2, JSON.stringify({ type: 'credential.registered', data: null }));
    const nothing = t.feed.appendRaw(0, 'null');
    const last = t.feed.append(1, stored('cred_b'));
    expect(await d.readAndDispatch('new')).toBe(5);
    expect(t.queue.data.map((j) => j.feedId)).toEqual([first.id, last.id]);
    expect(t.unreadable).toEqual([notJson, notEvent, nothing]);
    expect(t.feed.pendingOf()).toEqual([]);
    // The loop goes on.
    const next = t.feed.append(2, stored('cred_c'));
    expect(await d.readAndDispatch('new')).toBe(1);
    expect(t.queue.data.at(-1)?.feedId).toBe(next.id);
  });

  it('poison: an entry trimmed from the feed while pending is acknowledged from the backlog', async () => {
    const t = await running();
    const { d } = t;
    const kept = t.feed.append(0, stored('cred_a'));
    const trimmed = t.feed.append(1, stored('cred_b'));
    t.queue.failEnqueues = 1;
    await expect(d.readAndDispatch('new')).rejects.toThrow();
    t.feed.trim(trimmed);
    expect(await d.readAndDispatch('pending')).toBe(2);
    expect(t.queue.data.map((j) => j.feedId)).toEqual([kept.id]);
    expect(t.unreadable).toEqual([trimmed]);
    expect(t.feed.pendingOf()).toEqual([]);
  });

  it('close: closing the dispatcher closes its feed source', () => {
    const t = setup();
    const source = t.feed.source('worker-1');
    const d = new FeedDispatcher(source, new InMemorySubscriptions(), t.log, t.queue, t.credentials);
    d.close();
    expect(source.closed).toBe(true);
  });
});
