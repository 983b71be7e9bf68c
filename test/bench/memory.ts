/**
 * Redis memory per credential: copies of one real credential (projection, secrets and token
 * ciphertexts, a 10-event history, its 10 feed entries, its index entry) and one pending
 * delayed refresh job each, written straight into a fresh Redis in pipelines.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { CredentialStore, type KeySpace } from '#store';
import { startRedis, uniquePrefix } from '../support/redis-server.js';
import { usedMemory } from './bench-support.js';

export interface MemoryPoint {
  credentials: number;
  usedMemory: number;
  bytesPerCredential: number;
}

export async function measureMemory(
  source: Redis,
  sourceKeys: KeySpace,
  templateId: string,
  sizes: number[],
  log: (m: string) => void,
): Promise<{
  baseline: number;
  points: MemoryPoint[];
  feedMaxLen: number;
  breakdown: Record<string, number>;
}> {
  const hash = await source.hgetall(sourceKeys.credential(templateId));
  const raw = await source.xrange(sourceKeys.history(templateId), '-', '+');
  // History entries as stored (compact: no credential id or revision), and the full events the
  // feed carries (as CredentialStore.history returns them).
  const history = raw.map(([, f]) => f[1]!);
  const full = (
    await new CredentialStore(source, sourceKeys, { historyMaxLen: 1000, feedMaxLen: 1 }).history(templateId)
  ).map((e) => JSON.stringify(e));
  const events = Array.from({ length: 10 }, (_, i) => history[i % history.length]!);
  const feedEvents = Array.from({ length: 10 }, (_, i) => full[i % full.length]!);
  const { Redis: IORedis } = await import('ioredis');
  const { KeySpace: Keys } = await import('#store');
  const server = await startRedis();
  const r = new IORedis(server.url, { maxRetriesPerRequest: null });
  const prefix = uniquePrefix('mem');
  const keys = new Keys(prefix, 1);
  const feedMaxLen = 1_000_000;
  const queue = new Queue('token-refresh', { connection: r, prefix: `${prefix}:{q}` });
  try {
    await queue.waitUntilReady();
    await r.call('MEMORY', 'PURGE').catch(() => undefined);
    const baseline = await usedMemory(r);
    const points: MemoryPoint[] = [];
    let written = 0;
    for (const size of sizes) {
      for (; written < size; written += 1000) {
        const batch = Math.min(1000, size - written);
        const pipe = r.pipeline();
        const jobs = [];
        for (let j = 0; j < batch; j++) {
          const id = `cred_${(written + j).toString(36).padStart(22, 'x')}`;
          const sub = (v: string) => v.replaceAll(templateId, id);
          pipe.hset(
            keys.credential(id),
            Object.fromEntries(Object.entries(hash).map(([f, v]) => [f, sub(v)])),
          );
          events.forEach((e, rev) => {
            pipe.xadd(keys.history(id), 'MAXLEN', '~', 1000, `${rev + 1}-0`, 'e', sub(e));
            pipe.xadd(keys.feedOf(id), 'MAXLEN', '~', feedMaxLen, '*', 'e', sub(feedEvents[rev]!));
          });
          pipe.zadd(keys.indexOf(id), 0, id);
          jobs.push({
            name: 'refresh',
            data: {
              credentialId: id,
              tokenVersion: 3,
              attempt: 0,
              trigger: 'scheduled',
              dueAt: Date.now() + 3_600_000,
              demand: false,
            },
            opts: {
              jobId: `r-${id}-t3-a0`,
              delay: 3_600_000,
              removeOnComplete: true,
              removeOnFail: { age: 3600 },
              attempts: 5,
              backoff: { type: 'exponential', delay: 1000 },
            },
          });
        }
        await pipe.exec();
        await queue.addBulk(jobs);
      }
      const used = await usedMemory(r);
      points.push({ credentials: size, usedMemory: used, bytesPerCredential: (used - baseline) / size });
      log(`memory at ${size}: ${((used - baseline) / size).toFixed(0)} B/credential`);
    }
    // Where the bytes go, for one credential: its own keys, and the shared feed/queue per credential.
    const one = `cred_${(0).toString(36).padStart(22, 'x')}`;
    const usage = async (key: string) => Number(await r.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    const total = sizes.at(-1)!;
    const breakdown = {
      credentialHash: await usage(keys.credential(one)),
      history10Events: await usage(keys.history(one)),
      feedPerCredential: (await usage(keys.feed(0))) / total,
      indexPerCredential: (await usage(keys.index(0))) / total,
      delayedJobHash: await usage(`${prefix}:{q}:token-refresh:r-${one}-t3-a0`),
      delayedZsetPerCredential: (await usage(`${prefix}:{q}:token-refresh:delayed`)) / total,
    };
    return { baseline, points, feedMaxLen, breakdown };
  } finally {
    await queue.close();
    r.disconnect();
    await server.destroy();
  }
}
