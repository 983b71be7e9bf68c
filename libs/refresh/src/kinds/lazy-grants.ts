import type { GrantClient } from '#grants';

/**
 * The grant library (openid-client, jose, the outbound fetch), loaded on first use: the CLI reads
 * the kind descriptors for its flags and hints and never performs a grant.
 */
export const grants = () => import('#grants');

/** The grant library, as `grants()` resolves it. */
export type Grants = Awaited<ReturnType<typeof grants>>;

/** A client built on its first request. */
export function lazyClient(build: (g: Grants) => GrantClient): GrantClient {
  let client: Promise<GrantClient> | undefined;
  return {
    execute: async (request) => {
      client ??= grants().then(build);
      return (await client).execute(request);
    },
  };
}
