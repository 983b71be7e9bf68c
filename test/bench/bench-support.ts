/** Small helpers for `npm run bench`: a loopback token endpoint, a webhook receiver, stats and Redis counters. */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';

export interface Percentiles {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export function percentiles(values: number[]): Percentiles {
  if (values.length === 0) return { n: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN };
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: s.at(-1)! };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/**
 * A minimal OAuth token endpoint (client_credentials / refresh_token) that answers at once.
 * It records when each client's grants arrive; `expiresIn` decides each answer's lifetime.
 */
export class LoopbackTokenEndpoint {
  readonly arrivals = new Map<string, number[]>();
  total = 0;
  expiresIn: (clientId: string, now: number) => number = () => 3600;
  private server = createServer((req, res) => void this.handle(req, res));
  url = '';

  async start(): Promise<void> {
    this.url = `http://127.0.0.1:${await listen(this.server)}/token`;
  }

  private async handle(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const now = Date.now();
    const form = new URLSearchParams(await readBody(req));
    let clientId = form.get('client_id') ?? '';
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    if (basic) clientId = decodeURIComponent(Buffer.from(basic[1]!, 'base64').toString().split(':')[0]!);
    this.total += 1;
    const list = this.arrivals.get(clientId);
    if (list) list.push(now);
    else this.arrivals.set(clientId, [now]);
    const body = JSON.stringify({
      access_token: `at-${clientId}-${this.total}-${Math.random().toString(36).slice(2)}`,
      token_type: 'Bearer',
      expires_in: this.expiresIn(clientId, now),
      ...(form.get('grant_type') === 'refresh_token' ? { refresh_token: `rt-${this.total}` } : {}),
    });
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Receives webhook deliveries and records, per `token.updated`, receipt time minus the event's time. */
export class WebhookReceiver {
  readonly latencies: number[] = [];
  received = 0;
  private server = createServer((req, res) => void this.handle(req, res));
  url = '';
  recording = false;

  async start(): Promise<void> {
    this.url = `http://127.0.0.1:${await listen(this.server)}/hook`;
  }

  private async handle(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const now = Date.now();
    const body = JSON.parse(await readBody(req)) as { type?: string; timestamp?: string };
    this.received += 1;
    const signed = Boolean(req.headers['webhook-signature']);
    if (this.recording && signed && body.type === 'token.updated' && body.timestamp)
      this.latencies.push(now - Date.parse(body.timestamp));
    res.writeHead(204).end();
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** `INFO commandstats` as command → calls. */
export async function commandStats(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  const out = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

export function commandDelta(before: Map<string, number>, after: Map<string, number>): [string, number][] {
  return [...after]
    .map(([k, v]) => [k, v - (before.get(k) ?? 0)] as [string, number])
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1]);
}

export async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? Number.NaN);
}

/** Runs `fn` over `items` with at most `concurrency` in flight. */
export async function mapLimit<T, R>(
  items: T[],
  concurrency: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  baseline?: number;
  baselineName?: string;
  target: string;
  /** undefined: not measured. */
  met?: boolean;
  note?: string;
}

export function printTable(rows: BenchRow[]): string {
  const fmt = (n: number | undefined) =>
    n === undefined || Number.isNaN(n) ? '—' : Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(2);
  const header = ['figure', 'value', 'same-run baseline', 'target', 'result'];
  const lines = rows.map((r) => [
    r.name,
    `${fmt(r.value)} ${r.unit}`,
    r.baseline === undefined ? '—' : `${fmt(r.baseline)} ${r.unit} (${r.baselineName ?? 'baseline'})`,
    r.target,
    r.met === undefined ? `not measured${r.note ? `: ${r.note}` : ''}` : r.met ? 'met' : 'MISSED',
  ]);
  const md = [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...lines.map((l) => `| ${l.join(' | ')} |`),
  ];
  return md.join('\n');
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
export function processCpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 Hz on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Redis server CPU seconds (user + system) from INFO cpu. */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const get = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? Number.NaN);
  return get('used_cpu_user') + get('used_cpu_sys');
}
