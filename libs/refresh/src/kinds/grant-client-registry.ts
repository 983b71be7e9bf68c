import { type GrantClient, GrantConfigurationError, type GrantRequest, type GrantResult } from '#grants';
import type { GrantClientDeps, KindDescriptor } from './kind-descriptor.js';
import { KIND_DESCRIPTORS } from './registry.js';

/** One GrantClient for the refresh service that hands each request to its kind's client. */
export class GrantClientRegistry implements GrantClient {
  private readonly clients: ReadonlyMap<string, GrantClient>;

  constructor(clients: Record<string, GrantClient> | ReadonlyMap<string, GrantClient>) {
    this.clients = clients instanceof Map ? clients : new Map(Object.entries(clients));
  }

  /**
   * Each kind's client from its descriptor; kinds without one (`static`: its tokens are imported)
   * have none. Kinds that name the same factory share one client.
   */
  static standard(
    options: GrantClientDeps,
    descriptors: readonly KindDescriptor[] = KIND_DESCRIPTORS,
  ): GrantClientRegistry {
    const built = new Map<NonNullable<KindDescriptor['grantClient']>, GrantClient>();
    const clients = new Map<string, GrantClient>();
    for (const { kind, grantClient } of descriptors) {
      if (!grantClient) continue;
      const client = built.get(grantClient) ?? grantClient(options);
      built.set(grantClient, client);
      clients.set(kind, client);
    }
    return new GrantClientRegistry(clients);
  }

  execute(request: GrantRequest): Promise<GrantResult> {
    const client = this.clients.get(request.kind);
    if (!client) {
      return Promise.reject(
        new GrantConfigurationError(`${request.kind} credentials have no grant to perform`),
      );
    }
    return client.execute(request);
  }
}
