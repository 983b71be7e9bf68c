#!/usr/bin/env node
/**
 * Summarises V8 `.cpuprofile` files (from `node --cpu-prof`): self time by function and by
 * package/file, top N of each. Usage:
 *   node test/bench/cpuprofile-summary.mjs <file-or-dir>... [--top 25] [--window FROM-TO]
 * A directory means every .cpuprofile in it (e.g. BENCH_CPU_PROF_DIR/worker). `--window 0-20`
 * keeps the samples taken 0–20 s after the profile started (one bench phase of a long run).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const TOP = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 25;
const winAt = args.indexOf('--window');
const [FROM, TO] =
  winAt >= 0
    ? args
        .splice(winAt, 2)[1]
        .split('-')
        .map((x) => Number(x) * 1e6)
    : [0, Infinity];
const files = args.flatMap((a) =>
  statSync(a).isDirectory()
    ? readdirSync(a)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(a, f))
    : [a],
);
if (files.length === 0) {
  console.error('usage: cpuprofile-summary.mjs <file-or-dir>... [--top N]');
  process.exit(2);
}

/** node_modules/<pkg> (or @scope/pkg), node: internals, or the project file relative to dist/. */
function where(url) {
  if (!url) return '(native/v8)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return url;
  const d = url.indexOf('/dist/');
  return d >= 0 ? url.slice(d + 1) : url;
}

for (const file of files) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  // Self time per node: samples × their time deltas.
  const self = new Map();
  let t = 0;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    t += dt;
    if (t >= FROM && t < TO) self.set(id, (self.get(id) ?? 0) + dt);
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFn = new Map();
  const byWhere = new Map();
  for (const [id, us] of self) {
    const cf = byId.get(id).callFrame;
    const fn = `${cf.functionName || '(anonymous)'}  ${where(cf.url)}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
    const w = cf.url ? where(cf.url) : cf.functionName || '(native)';
    byWhere.set(w, (byWhere.get(w) ?? 0) + us);
  }
  const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
  const print = (title, m) => {
    console.log(`\n  ${title}`);
    for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP))
      console.log(`  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
  };
  const idle = [...self]
    .filter(([id]) => byId.get(id).callFrame.functionName === '(idle)')
    .reduce((a, [, us]) => a + us, 0);
  console.log(
    `\n${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(100 - (100 * idle) / total).toFixed(0)} % busy`,
  );
  print('self time by package / file', byWhere);
  print('self time by function', byFn);
}
