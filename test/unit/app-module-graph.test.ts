import 'reflect-metadata';
import type { DynamicModule, InjectionToken, Provider, Type } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '#common';
import { EventFeedReader } from '#events';
import {
  CredentialCipher,
  CredentialService,
  PoolService,
  ReEncryption,
  RefreshScheduler,
  RefreshService,
  ScheduleSweeper,
  TokenService,
} from '#refresh';
import { GRANT_CLIENT } from '#runtime';
import { CredentialStore, LeaseManager, PoolStore } from '#store';
import { DeliveryLog, DeliveryQueue, FeedDispatcher, SubscriptionService, WebhookDeliverer } from '#webhooks';
import { ApiModule } from '../../apps/api/src/api.module.js';
import { WorkerModule } from '../../apps/worker/src/worker.module.js';

type ModuleRef = Type | DynamicModule | Promise<DynamicModule>;

/**
 * Every provider token an app's module graph declares, read from the module metadata without
 * starting anything (no provider is built, no connection opened).
 */
function providerTokens(root: DynamicModule): Set<InjectionToken> {
  const tokens = new Set<InjectionToken>();
  const seen = new Set<unknown>();
  const visit = (ref: ModuleRef | undefined) => {
    if (!ref || ref instanceof Promise || seen.has(ref)) return;
    seen.add(ref);
    const dynamic = 'module' in ref ? ref : undefined;
    const type = dynamic ? dynamic.module : (ref as Type);
    const meta = (key: string) => (Reflect.getMetadata(key, type) ?? []) as unknown[];
    const providers = [...meta('providers'), ...(dynamic?.providers ?? [])] as Provider[];
    for (const p of providers) tokens.add(typeof p === 'function' ? p : p.provide);
    for (const child of [...meta('imports'), ...(dynamic?.imports ?? [])]) visit(child as ModuleRef);
  };
  visit(root);
  return tokens;
}

const nameOf = (token: InjectionToken) => (typeof token === 'function' ? token.name : String(token));

const config = loadConfig({});
// Keys only matter once the api runs; the graph is the same whatever they are.
const keys = { lookupKey: Buffer.alloc(32), recordKey: Buffer.alloc(32) };
const api = providerTokens(ApiModule.forRoot(config, keys));
const worker = providerTokens(WorkerModule.forRoot(config));

describe('each app builds only what it runs', () => {
  it('the api: credentials, tokens (a read may demand a refresh), pools, subscriptions; no refresh machinery', () => {
    for (const used of [
      CredentialStore,
      CredentialCipher,
      RefreshScheduler,
      CredentialService,
      TokenService,
      PoolStore,
      PoolService,
      ReEncryption,
      EventFeedReader,
      SubscriptionService,
      DeliveryQueue,
    ]) {
      expect(api.has(used), `api provides ${nameOf(used)}`).toBe(true);
    }
    for (const unused of [
      RefreshService,
      LeaseManager,
      GRANT_CLIENT,
      ScheduleSweeper,
      FeedDispatcher,
      WebhookDeliverer,
    ]) {
      expect(api.has(unused), `api does not provide ${nameOf(unused)}`).toBe(false);
    }
  });

  it('the worker: refreshes, the sweep, re-encryption, deliveries; no API use cases', () => {
    for (const used of [
      CredentialStore,
      LeaseManager,
      GRANT_CLIENT,
      RefreshScheduler,
      RefreshService,
      ScheduleSweeper,
      ReEncryption,
      EventFeedReader,
      DeliveryLog,
      DeliveryQueue,
      FeedDispatcher,
      WebhookDeliverer,
    ]) {
      expect(worker.has(used), `worker provides ${nameOf(used)}`).toBe(true);
    }
    for (const unused of [CredentialService, TokenService, PoolStore, PoolService, SubscriptionService]) {
      expect(worker.has(unused), `worker does not provide ${nameOf(unused)}`).toBe(false);
    }
  });
});
