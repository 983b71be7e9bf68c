import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../../apps/agent/src/sinks/atomic-write.js';

const dir = () => mkdtempSync(join(tmpdir(), 'tk-atomic-'));

describe('writeFileAtomic', () => {
  it('writes the content with the exact mode, whatever the umask, and leaves no temp file', async () => {
    const d = dir();
    const path = join(d, 'token.json');
    const previous = process.umask(0o077);
    try {
      await writeFileAtomic(path, '{"a":1}', 0o640);
    } finally {
      process.umask(previous);
    }
    expect(readFileSync(path, 'utf8')).toBe('{"a":1}');
    expect(statSync(path).mode & 0o777).toBe(0o640);
    await writeFileAtomic(path, 'second');
    expect(readFileSync(path, 'utf8')).toBe('second');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(d)).toEqual(['token.json']);
  });

  it('replaces a file whose old mode was wider', async () => {
    const d = dir();
    const path = join(d, 'f');
    writeFileSync(path, 'old', { mode: 0o666 });
    await writeFileAtomic(path, 'new', 0o600);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('keeps the old file when the write fails', async () => {
    const d = dir();
    const path = join(d, 'f');
    writeFileSync(path, 'old');
    await expect(writeFileAtomic(join(d, 'missing-dir', 'f'), 'x')).rejects.toThrow(/ENOENT/);
    expect(readFileSync(path, 'utf8')).toBe('old');
    expect(readdirSync(d)).toEqual(['f']);
  });

  it('a reader in a tight loop never sees a partial file', async () => {
    const d = dir();
    const path = join(d, 'big.json');
    const doc = (i: number) => JSON.stringify({ i, pad: 'x'.repeat(256 * 1024) });
    await writeFileAtomic(path, doc(0));
    const reader = new Worker(
      `const { readFileSync } = require('node:fs');
       const { workerData, parentPort } = require('node:worker_threads');
       let reads = 0, bad = 0; const seen = new Set();
       const end = Date.now() + workerData.ms;
       while (Date.now() < end) {
         try { seen.add(JSON.parse(readFileSync(workerData.path, 'utf8')).i); } catch { bad++; }
         reads++;
       }
       parentPort.postMessage({ reads, bad, distinct: seen.size });`,
      { eval: true, workerData: { path, ms: 1500 } },
    );
    const result = new Promise<{ reads: number; bad: number; distinct: number }>((resolve) =>
      reader.once('message', resolve),
    );
    let writes = 0;
    const end = Date.now() + 1400;
    while (Date.now() < end) await writeFileAtomic(path, doc(++writes));
    const { reads, bad, distinct } = await result;
    expect(bad).toBe(0);
    expect(writes).toBeGreaterThan(10);
    expect(reads).toBeGreaterThan(10);
    expect(distinct).toBeGreaterThan(1);
  });
});
