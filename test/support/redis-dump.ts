import { Redis } from 'ioredis';

/** Every key and value in a Redis as one text, for scanning it for secrets. */
export async function dumpRedis(url: string): Promise<string> {
  if (url.startsWith('redis+cluster://')) {
    // A cluster: every master holds its own slots; dump each one.
    const ports = url.slice('redis+cluster://'.length).split(',');
    const parts = await Promise.all(ports.map((hp) => dumpRedis(`redis://${hp}`)));
    return parts.join('\n');
  }
  const redis = new Redis(url, { lazyConnect: true });
  await redis.connect();
  const parts: string[] = [];
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'COUNT', '500');
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        parts.push(key);
        if (type === 'string') parts.push(String(await redis.get(key)));
        else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
        else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
        else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, '0', '-1')));
        else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
        else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
      }
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return parts.join('\n');
}

/** The given secrets that occur in `text` (an empty list is what a test wants). */
export function leakedSecrets(text: string, secrets: Iterable<string>): string[] {
  return [...new Set(secrets)].filter((s) => s.length >= 8 && text.includes(s));
}
