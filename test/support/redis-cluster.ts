/**
 * A local Redis Cluster for `npm run test:cluster`: three masters (no replicas) on 127.0.0.1,
 * each a `redis-server --cluster-enabled yes` child with its own data dir and `hz 100`, joined
 * with `redis-cli --cluster create`. It looks like a RedisServer to the tests: `url` is a
 * `redis+cluster://` URL the apps understand, stop/kill/restart act on every node.
 */
import { spawnSync } from 'node:child_process';
import { Cluster, Redis } from 'ioredis';
import { type RedisServer, type StartRedisOptions, startRedis } from './redis-server.js';
import { waitFor } from './wait.js';

export const REDIS_CLI_BIN = process.env.REDIS_CLI_BIN ?? '/usr/bin/redis-cli';

class RedisCluster implements RedisServer {
  constructor(readonly nodes: RedisServer[]) {}

  get url(): string {
    return `redis+cluster://${this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
  }
  get port(): number {
    return this.nodes[0]!.port;
  }
  get dir(): string {
    return this.nodes[0]!.dir;
  }
  get pid(): number {
    return this.nodes[0]!.pid;
  }
  get appendonly(): boolean {
    return this.nodes[0]!.appendonly;
  }
  get running(): boolean {
    return this.nodes.every((n) => n.running);
  }
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
  async kill(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill()));
  }
  async restart(): Promise<void> {
    await this.stop();
    // Each node finds its slots again in its nodes.conf.
    await Promise.all(this.nodes.map((n) => n.restart()));
    await waitForClusterOk(this.nodes);
  }
  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.destroy()));
  }
  logs(): string {
    return this.nodes.map((n, i) => `--- node ${i} (${n.port})\n${n.logs()}`).join('\n');
  }
}

async function clusterState(port: number): Promise<string> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    const info = (await r.call('CLUSTER', 'INFO')) as string;
    return /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown';
  } catch {
    return 'unreachable';
  } finally {
    r.disconnect();
  }
}

async function waitForClusterOk(nodes: RedisServer[]): Promise<void> {
  await waitFor(
    async () => (await Promise.all(nodes.map((n) => clusterState(n.port)))).every((s) => s === 'ok'),
    {
      timeoutMs: 20_000,
      intervalMs: 100,
      message: 'redis cluster_state:ok on every node',
    },
  );
}

export async function startRedisCluster(opts: StartRedisOptions = {}, masters = 3): Promise<RedisServer> {
  const nodes: RedisServer[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      nodes.push(
        await startRedis({
          ...(opts.appendonly !== undefined ? { appendonly: opts.appendonly } : {}),
          ...(opts.startTimeoutMs !== undefined ? { startTimeoutMs: opts.startTimeoutMs } : {}),
          extraArgs: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '5000',
          ],
        }),
      );
    }
    const create = spawnSync(
      REDIS_CLI_BIN,
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (create.status !== 0)
      throw new Error(`redis-cli --cluster create failed:\n${create.stdout}${create.stderr}`);
    await waitForClusterOk(nodes);
    return new RedisCluster(nodes);
  } catch (err) {
    await Promise.all(nodes.map((n) => n.destroy()));
    throw err;
  }
}

/**
 * A client for a test Redis URL: an ioredis `Cluster` for `redis+cluster://h:p,...`, else a
 * plain `Redis`. `maxRetriesPerRequest: null` so it can serve BullMQ too. Close it yourself.
 */
export function testRedisClient(url: string): Redis | Cluster {
  if (!url.startsWith('redis+cluster://')) return new Redis(url, { maxRetriesPerRequest: null });
  const nodes = url
    .slice('redis+cluster://'.length)
    .split(',')
    .map((hp) => ({ host: hp.split(':')[0]!, port: Number(hp.split(':')[1]) }));
  return new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: null } });
}
