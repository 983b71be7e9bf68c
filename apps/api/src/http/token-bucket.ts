/**
 * A token bucket per caller: `burst` requests at once, refilled at `perSecond`. In-process, so
 * with N api replicas a key gets up to N times the rate: the limit protects each process and the
 * providers behind it, it is not a billing meter.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly maxCallers = 100_000,
  ) {}

  get enabled(): boolean {
    return this.perSecond > 0;
  }

  /** Takes one token; returns 0 when allowed, otherwise the seconds until one is available. */
  take(caller: string, now: number): number {
    let bucket = this.buckets.get(caller);
    if (!bucket) {
      if (this.buckets.size >= this.maxCallers) this.buckets.clear();
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(caller, bucket);
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.perSecond));
  }
}
