import { hostname } from 'node:os';

/** Header that names the process sending an outbound grant request (when enabled). */
export const WORKER_HEADER = 'x-tokenkeeper-worker';

let id: string | undefined;

/** Identity of this process in attempt records and outbound requests: `host:pid`. */
export function workerId(): string {
  id ??= `${hostname()}:${process.pid}`;
  return id;
}

/**
 * The headers that identify this process on an outbound grant request: `x-tokenkeeper-worker:
 * <workerId()>` when `TK_OUTBOUND_WORKER_HEADER=1` (test deployments, where a proxy attributes
 * requests to processes), none otherwise.
 */
export function workerIdentityHeaders(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return env.TK_OUTBOUND_WORKER_HEADER === '1' ? { [WORKER_HEADER]: workerId() } : {};
}
