/**
 * Redis key layout. Every key of a credential carries the hash tag of its feed partition
 * (`{p<k>}`), so its hash, history, lease and its partition of the global feed live in one
 * Redis Cluster slot and one Lua script can update them atomically.
 */
export class KeySpace {
  constructor(
    readonly prefix: string,
    readonly partitions: number,
  ) {}

  partitionOf(credentialId: string): number {
    if (this.partitions === 1) return 0;
    // FNV-1a: stable across processes and languages, cheap.
    let h = 0x811c9dc5;
    for (let i = 0; i < credentialId.length; i++) {
      h ^= credentialId.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    return (h >>> 0) % this.partitions;
  }

  private tag(partition: number): string {
    return `${this.prefix}:{p${partition}}`;
  }

  credential(id: string): string {
    return `${this.tag(this.partitionOf(id))}:c:${id}`;
  }
  history(id: string): string {
    return `${this.tag(this.partitionOf(id))}:h:${id}`;
  }
  lease(id: string): string {
    return `${this.tag(this.partitionOf(id))}:l:${id}`;
  }
  /** Held (SET NX PX) while a read-triggered refresh of the credential counts against its interval. */
  readRefresh(id: string): string {
    return `${this.tag(this.partitionOf(id))}:rr:${id}`;
  }
  feedOf(id: string): string {
    return this.feed(this.partitionOf(id));
  }
  feed(partition: number): string {
    return `${this.tag(partition)}:feed`;
  }
  indexOf(id: string): string {
    return this.index(this.partitionOf(id));
  }
  index(partition: number): string {
    return `${this.tag(partition)}:idx`;
  }
  /**
   * The credential ids of one namespace in one partition (a sorted set, like `index`): listing a
   * namespace reads these, so its cost does not depend on other namespaces. Same hash tag as the
   * partition's credentials, so the append script maintains it atomically.
   */
  namespaceIndexOf(id: string, namespace: string): string {
    return this.namespaceIndex(this.partitionOf(id), namespace);
  }
  namespaceIndex(partition: number, namespace: string): string {
    return `${this.tag(partition)}:nidx:${namespace}`;
  }
  /** Keys that are not per credential (leader locks and the like) share one slot. */
  global(name: string): string {
    return `${this.prefix}:{g}:${name}`;
  }
}
