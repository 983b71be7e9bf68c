import { Cluster, type ClusterNode, Redis, type RedisOptions } from 'ioredis';
import type { RedisClient } from '#store';

/** Scheme of a Redis Cluster URL: `redis+cluster://[user:password@]host:port[,host:port...]`. */
export const CLUSTER_SCHEMES = ['redis+cluster:', 'rediss+cluster:'] as const;

export interface ClusterUrl {
  nodes: ClusterNode[];
  username?: string;
  password?: string;
  tls: boolean;
}

export function isClusterUrl(url: string): boolean {
  return CLUSTER_SCHEMES.some((s) => url.startsWith(`${s}//`));
}

/**
 * Parses `redis+cluster://[user:pw@]h1:p1,h2:p2` (`rediss+cluster:` for TLS). The seed nodes
 * only bootstrap discovery: ioredis learns the rest of the cluster from `CLUSTER SLOTS`.
 */
export function parseClusterUrl(url: string): ClusterUrl {
  const scheme = CLUSTER_SCHEMES.find((s) => url.startsWith(`${s}//`));
  if (!scheme) throw new TypeError(`not a Redis Cluster URL: ${url.split('@').at(-1)}`);
  let rest = url.slice(scheme.length + 2).replace(/\/.*$/, '');
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const auth = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = auth.indexOf(':');
    username = decodeURIComponent(colon >= 0 ? auth.slice(0, colon) : auth) || undefined;
    password = colon >= 0 ? decodeURIComponent(auth.slice(colon + 1)) : undefined;
  }
  const nodes = rest
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean)
    .map((n) => {
      const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(n);
      if (!m) throw new TypeError(`Redis Cluster node "${n}" is not host:port`);
      return { host: m[1]!, port: Number(m[2]) };
    });
  if (nodes.length === 0) throw new TypeError('a Redis Cluster URL needs at least one host:port');
  return {
    nodes,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    tls: scheme === 'rediss+cluster:',
  };
}

/**
 * A connection as BullMQ needs it: commands wait for a reconnect instead of failing after a few
 * retries (`maxRetriesPerRequest: null`), so a Redis restart or a cluster failover delays work
 * rather than losing it. A `redis+cluster://` URL gives an ioredis `Cluster` with the same
 * semantics on every node connection.
 */
export function createRedis(url: string, name: string): RedisClient {
  const retryStrategy = (times: number) => Math.min(times * 200, 2000);
  if (!isClusterUrl(url)) {
    return new Redis(url, {
      connectionName: name,
      maxRetriesPerRequest: null,
      enableReadyCheck: true,
      retryStrategy,
    });
  }
  const { nodes, username, password, tls } = parseClusterUrl(url);
  const redisOptions: RedisOptions = {
    connectionName: name,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(tls ? { tls: {} } : {}),
  };
  return new Cluster(nodes, {
    redisOptions,
    enableReadyCheck: true,
    clusterRetryStrategy: retryStrategy,
    // A failover moves slots: keep following MOVED/ASK and retrying while the cluster settles.
    maxRedirections: 32,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 500,
    retryDelayOnTryAgain: 200,
    slotsRefreshTimeout: 2000,
  });
}
