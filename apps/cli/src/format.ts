/** Human output: durations, relative times and aligned tables. Pure functions, `now` as an argument. */

/** `4m12s`, `2h05m`, `3d04h`, `45s`, `0s`: two units at most, largest first. */
export function formatDuration(ms: number): string {
  const total = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(total / 86_400);
  const h = Math.floor((total % 86_400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (d > 0) return `${d}d${pad(h)}h`;
  if (h > 0) return `${h}h${pad(m)}m`;
  if (m > 0) return `${m}m${pad(s)}s`;
  return `${s}s`;
}

/** `in 4m12s` for a future time, `3m ago` style (`expired 3m00s ago`) for a past one, `-` when unknown. */
export function formatRelative(iso: string | undefined, now: number, pastWord = ''): string {
  if (!iso) return '-';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return '-';
  const delta = at - now;
  if (delta >= 0) return `in ${formatDuration(delta)}`;
  return `${pastWord ? `${pastWord} ` : ''}${formatDuration(delta)} ago`;
}

/** Time to expiry of a token: `in 4m12s`, `expired 10s ago`, `-`. */
export function formatExpiry(iso: string | undefined, now: number): string {
  return formatRelative(iso, now, 'expired');
}

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** Right-align (numbers). */
  right?: boolean;
}

/** A plain table: headers in capitals, columns separated by two spaces, no trailing blanks. */
export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => sanitize(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (columns[i]!.right ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header.toUpperCase())), ...cells.map(line)].join('\n');
}

/** `key: value` lines with the keys aligned; undefined values are left out. */
export function renderFields(fields: [string, string | number | undefined][]): string {
  const present = fields.filter((f): f is [string, string | number] => f[1] !== undefined && f[1] !== '');
  const width = Math.max(0, ...present.map(([k]) => k.length));
  return present.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${sanitize(String(v))}`).join('\n');
}

/** `a=b,c=d` for labels. */
export function formatLabels(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {});
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : '-';
}

/**
 * Terminal control characters from the server never reach the user's terminal; `max` bounds a
 * text the server chose (a problem's detail).
 */
export function sanitize(value: string, max = Number.POSITIVE_INFINITY): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
  const clean = value.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}
