/** One sample of a scrape: metric name, labels, value. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: string;
  help?: string;
  samples: PromSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Record<string, string[]> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
  counter: ['', '_total'],
};

function parseValue(text: string, line: number): number {
  if (text === '+Inf' || text === 'Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text))
    throw new Error(`line ${line}: bad value ${text}`);
  return Number(text);
}

/** Parses `{a="x",b="y\"z"}` starting at `i` (the `{`); returns the labels and the index after `}`. */
function parseLabels(s: string, i: number, line: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  i++;
  while (s[i] !== '}') {
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new Error(`line ${line}: label without '='`);
    const name = s.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`line ${line}: bad label name ${name}`);
    if (name in labels) throw new Error(`line ${line}: duplicate label ${name}`);
    if (s[eq + 1] !== '"') throw new Error(`line ${line}: label value not quoted`);
    let j = eq + 2;
    let value = '';
    for (; j < s.length && s[j] !== '"'; j++) {
      if (s[j] === '\\') {
        const next = s[++j];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else throw new Error(`line ${line}: bad escape \\${next}`);
      } else value += s[j];
    }
    if (j >= s.length) throw new Error(`line ${line}: unterminated label value`);
    labels[name] = value;
    i = j + 1;
    if (s[i] === ',') i++;
    else if (s[i] !== '}') throw new Error(`line ${line}: expected ',' or '}' after a label`);
  }
  return [labels, i + 1];
}

/**
 * A strict parser of the Prometheus text exposition format 0.0.4: every line is a HELP, TYPE,
 * comment or sample; names and labels are valid; a family's TYPE comes once, before its samples,
 * which are contiguous; histogram buckets are cumulative and end with `le="+Inf"` equal to `_count`.
 */
export function parsePrometheusText(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  const closed = new Set<string>();
  let current: PromFamily | undefined;
  const familyOf = (sample: string) => {
    for (const f of [current, ...families.values()]) {
      if (!f) continue;
      for (const suffix of SUFFIXES[f.type] ?? ['']) if (sample === f.name + suffix) return f;
    }
    return undefined;
  };
  const lines = text.split('\n');
  if (lines.at(-1) !== '') throw new Error('the text must end with a newline');
  for (const [n, raw] of lines.entries()) {
    const line = n + 1;
    if (raw === '') continue;
    if (raw.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (!m) continue; // a plain comment
      const [, what, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name ${name}`);
      if (current && current.name !== name) closed.add(current.name);
      if (closed.has(name)) throw new Error(`line ${line}: family ${name} is not contiguous`);
      let family = families.get(name);
      if (!family) {
        family = { name, type: 'untyped', samples: [] };
        families.set(name, family);
      }
      current = family;
      if (what === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`line ${line}: bad type ${rest}`);
        if (family.samples.length > 0) throw new Error(`line ${line}: TYPE after samples of ${name}`);
        family.type = rest;
      } else family.help = rest;
      continue;
    }
    const nameEnd = raw.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`line ${line}: not a sample: ${raw}`);
    const name = raw.slice(0, nameEnd);
    if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name ${name}`);
    let labels: Record<string, string> = {};
    let i = nameEnd;
    if (raw[i] === '{') [labels, i] = parseLabels(raw, i, line);
    const parts = raw.slice(i).trim().split(' ');
    if (raw[i] !== ' ' || parts.length < 1 || parts.length > 2)
      throw new Error(`line ${line}: bad sample ${raw}`);
    const value = parseValue(parts[0]!, line);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`line ${line}: bad timestamp`);
    let family = familyOf(name);
    if (!family) {
      family = { name, type: 'untyped', samples: [] };
      families.set(name, family);
    }
    if (current && current !== family) closed.add(current.name);
    if (closed.has(family.name)) throw new Error(`line ${line}: family ${family.name} is not contiguous`);
    current = family;
    family.samples.push({ name, labels, value });
  }
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f: PromFamily): void {
  const series = new Map<string, PromSample[]>();
  const key = (l: Record<string, string>) =>
    JSON.stringify(
      Object.entries(l)
        .filter(([k]) => k !== 'le')
        .sort(),
    );
  for (const s of f.samples) series.set(key(s.labels), [...(series.get(key(s.labels)) ?? []), s]);
  for (const samples of series.values()) {
    const buckets = samples.filter((s) => s.name.endsWith('_bucket'));
    const count = samples.find((s) => s.name.endsWith('_count'));
    if (buckets.length === 0 || !count) throw new Error(`${f.name}: histogram without buckets or count`);
    let last = -1;
    let lastLe = Number.NEGATIVE_INFINITY;
    for (const b of buckets) {
      const le = parseValue(b.labels.le ?? '', 0);
      if (!(le > lastLe)) throw new Error(`${f.name}: bucket bounds not increasing`);
      if (b.value < last) throw new Error(`${f.name}: buckets not cumulative`);
      last = b.value;
      lastLe = le;
    }
    if (buckets.at(-1)!.labels.le !== '+Inf') throw new Error(`${f.name}: no +Inf bucket`);
    if (buckets.at(-1)!.value !== count.value) throw new Error(`${f.name}: +Inf bucket differs from _count`);
  }
}

/** The value of the one sample with this name whose labels include `labels`; undefined if none. */
export function sampleValue(
  families: Map<string, PromFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}
