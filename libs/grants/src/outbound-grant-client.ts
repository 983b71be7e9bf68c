import { createUnpolicedOutboundFetch } from '#common';
import type { GrantClient, GrantRequest, GrantResult } from './grant-client.js';
import type { TokenSources } from './token-source.js';

export interface OutboundGrantClientOptions extends TokenSources {
  now?: () => number;
  /**
   * The outbound fetch (URL policy); every call also gets a timeout and a size cap. Default: the
   * outbound fetch without a policy (createUnpolicedOutboundFetch), so failures still say whether
   * they were sent.
   */
  fetch?: typeof fetch;
}

/** Base of the grant clients that call a server: their clock, outbound fetch and token sources. */
export abstract class OutboundGrantClient implements GrantClient {
  protected readonly now: () => number;
  protected readonly fetchImpl: typeof fetch;

  constructor(protected readonly options: OutboundGrantClientOptions = {}) {
    this.now = options.now ?? Date.now;
    this.fetchImpl = options.fetch ?? createUnpolicedOutboundFetch();
  }

  abstract execute(request: GrantRequest): Promise<GrantResult>;
}
