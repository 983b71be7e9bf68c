/** Helpers for e2e tests of the agent (apps/agent): its key, its config file, its files. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { stringify } from 'yaml';
import { apiClient } from './processes.js';

/** The agent config's reference to its key: the key itself never goes into the file. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: an environment reference the agent interpolates
export const API_KEY_REFERENCE = '${TK_API_KEY}';

/** Creates an API key with the scopes the agent needs (read status, tokens and events). */
export async function createAgentKey(apiUrl: string, name = 'agent'): Promise<string> {
  const res = await apiClient(apiUrl).post<{ key: string }>('/v1/api-keys', {
    name,
    scopes: ['credentials:read', 'token:read', 'events:read'],
  });
  if (res.status !== 201 && res.status !== 200)
    throw new Error(`cannot create an API key: ${JSON.stringify(res.body)}`);
  return res.body.key;
}

/** A fresh temporary directory for the agent's files. */
export function agentDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `tk-agent-${name}-`));
}

/** Writes `config` as YAML into `dir` and returns the path. The API key stays a `${TK_API_KEY}` reference. */
export function writeAgentConfig(dir: string, config: Record<string, unknown>, file = 'agent.yaml'): string {
  const path = join(dir, file);
  writeFileSync(path, stringify(config));
  return path;
}

export interface ReaderResult {
  reads: number;
  /** Reads that failed to parse as JSON (or to read at all). */
  bad: number;
  /** First failures, for the assertion message. */
  samples: string[];
}

/**
 * Reads `paths` in a tight loop on a worker thread (so the test's event loop stays free) for
 * `ms` milliseconds and parses every read as JSON.
 */
export function readInTightLoop(paths: string[], ms: number): Promise<ReaderResult> {
  const worker = new Worker(
    `const { readFileSync } = require('node:fs');
     const { workerData, parentPort } = require('node:worker_threads');
     let reads = 0, bad = 0; const samples = [];
     const end = Date.now() + workerData.ms;
     while (Date.now() < end) {
       for (const p of workerData.paths) {
         let text = '';
         try { text = readFileSync(p, 'utf8'); JSON.parse(text); }
         catch (e) { bad++; if (samples.length < 3) samples.push(p + ': ' + e.message + ' (' + text.length + ' bytes)'); }
         reads++;
       }
     }
     parentPort.postMessage({ reads, bad, samples });`,
    { eval: true, workerData: { paths, ms } },
  );
  return new Promise((resolve, reject) => {
    worker.once('message', (m: ReaderResult) => {
      void worker.terminate();
      resolve(m);
    });
    worker.once('error', reject);
  });
}
