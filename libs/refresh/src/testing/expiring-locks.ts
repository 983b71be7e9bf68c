import { randomBytes } from 'node:crypto';
import type { Clock } from '../ports.js';

/** Owner-token locks that lapse by the clock, as Redis `SET NX PX` keys do. */
export class ExpiringLocks {
  private readonly held = new Map<string, { owner: string; expiresAt: number }>();

  constructor(private readonly clock: Clock) {}

  /** The owner of an unexpired lock on `key`. */
  owner(key: string): string | undefined {
    const lock = this.held.get(key);
    return lock && lock.expiresAt > this.clock.now() ? lock.owner : undefined;
  }

  remainingMs(key: string): number {
    return this.owner(key) ? this.held.get(key)!.expiresAt - this.clock.now() : 0;
  }

  /** Takes the lock for a new random owner unless someone holds it; returns that owner. */
  take(key: string, ttlMs: number): string | undefined {
    if (this.owner(key)) return undefined;
    const owner = randomBytes(12).toString('base64url');
    this.held.set(key, { owner, expiresAt: this.clock.now() + ttlMs });
    return owner;
  }

  /** Extends the lock if `owner` still holds it. */
  renew(key: string, owner: string, ttlMs: number): boolean {
    if (this.owner(key) !== owner) return false;
    this.held.set(key, { owner, expiresAt: this.clock.now() + ttlMs });
    return true;
  }

  /** Releases the lock if `owner` still holds it. */
  drop(key: string, owner: string): boolean {
    if (this.owner(key) !== owner) return false;
    this.held.delete(key);
    return true;
  }

  /** Forgets the lock whoever holds it (a lapse, a Redis restart). */
  forget(key?: string): void {
    if (key === undefined) this.held.clear();
    else this.held.delete(key);
  }
}
