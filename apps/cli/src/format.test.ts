import { describe, expect, it } from 'vitest';
import { formatDuration, formatExpiry, formatLabels, renderFields, renderTable } from './format.js';
import { renderProgress } from './progress-bar.js';

const NOW = Date.parse('2026-11-24T12:00:00.000Z');
const at = (offsetMs: number) => new Date(NOW + offsetMs).toISOString();

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [999, '0s'],
    [45_000, '45s'],
    [252_000, '4m12s'],
    [3_600_000 + 5 * 60_000, '1h05m'],
    [3 * 86_400_000 + 4 * 3_600_000, '3d04h'],
    [-61_000, '1m01s'],
  ])('%i ms is %s', (ms, text) => expect(formatDuration(ms)).toBe(text));
});

describe('formatExpiry', () => {
  it('says how long a token has left, or how long ago it expired', () => {
    expect(formatExpiry(at(252_000), NOW)).toBe('in 4m12s');
    expect(formatExpiry(at(-10_000), NOW)).toBe('expired 10s ago');
    expect(formatExpiry(undefined, NOW)).toBe('-');
    expect(formatExpiry('not a date', NOW)).toBe('-');
  });
});

describe('renderTable', () => {
  it('aligns columns under upper-case headers without trailing blanks', () => {
    const table = renderTable(
      [
        { id: 'cred_a', n: 1 },
        { id: 'cred_bbbb', n: 12 },
      ],
      [
        { header: 'id', value: (r) => r.id },
        { header: 'n', value: (r) => String(r.n), right: true },
      ],
    );
    expect(table.split('\n')).toEqual(['ID          N', 'cred_a      1', 'cred_bbbb  12']);
  });

  it('keeps terminal control characters from the server out of the output', () => {
    expect(renderTable([{ v: 'a\u001b[31mb' }], [{ header: 'v', value: (r) => r.v }])).not.toContain(
      '\u001b',
    );
  });
});

describe('renderFields and labels', () => {
  it('aligns keys and leaves out missing values', () => {
    expect(
      renderFields([
        ['id', 'x'],
        ['state', 'active'],
        ['missing', undefined],
      ]),
    ).toBe('id:    x\nstate: active');
    expect(formatLabels({ team: 'a', env: 'prod' })).toBe('team=a,env=prod');
    expect(formatLabels({})).toBe('-');
  });
});

describe('renderProgress', () => {
  it('draws a bar with count and percentage', () => {
    expect(renderProgress(5, 10, 10, 'x.json')).toBe('[#####.....] 5/10 50% x.json');
    expect(renderProgress(0, 0, 4)).toBe('[####] 0/0 100%');
  });
});
