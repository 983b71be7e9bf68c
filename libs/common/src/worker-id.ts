import { hostname } from 'node:os';

/** This process's identity in records and outbound headers: `host:pid`. */
export function workerId(): string {
  return `${hostname()}:${process.pid}`;
}
