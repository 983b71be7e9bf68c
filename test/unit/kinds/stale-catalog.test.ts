import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const COPY_ASSETS = fileURLToPath(new URL('../../../scripts/copy-assets.mjs', import.meta.url));
const CATALOG = 'libs/refresh/src/kinds/catalog';

describe('npm run build: the built kind catalog', () => {
  let root: string | undefined;
  afterEach(() => root && rmSync(root, { recursive: true, force: true }));

  it('holds no descriptor whose source file was removed or renamed (the registry would load it at start)', () => {
    root = mkdtempSync(join(tmpdir(), 'tk-catalog-'));
    mkdirSync(join(root, CATALOG), { recursive: true });
    mkdirSync(join(root, 'dist', CATALOG), { recursive: true });
    writeFileSync(join(root, CATALOG, 'kept.ts'), 'export default {};\n');
    for (const name of ['kept.js', 'kept.js.map', 'renamed.js', 'renamed.js.map'])
      writeFileSync(join(root, 'dist', CATALOG, name), '');
    const run = spawnSync(process.execPath, [COPY_ASSETS], { cwd: root, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(readdirSync(join(root, 'dist', CATALOG)).sort()).toEqual(['kept.js', 'kept.js.map']);
  });
});
