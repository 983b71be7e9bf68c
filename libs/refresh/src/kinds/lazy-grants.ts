import type { GrantClient } from '#grants';

/**
 * The grant library (openid-client, jose, the outbound fetch), loaded on first use: the CLI reads
 * the kind descriptors for its flags and hints and never performs a grant.
 */
export const grants = () => import('#grants');

/** A client built on its first request. */
export function lazyClient(build: (g: Awaited<ReturnType<typeof grants>>) => GrantClient): GrantClient {
  let client: Promise<GrantClient> | undefined;
  return {
    execute: async (request) => {
      client ??= grants().then(build);
      return (await client).execute(request);
    },
  };
}
