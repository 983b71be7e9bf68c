import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Integration and e2e tests run the compiled apps: build (incrementally) before they start.
 * `npm test` has already built and typechecked, and fails on its own if that fails; here a type
 * error only warns, since tsc still emits JavaScript and a focused `vitest run` on one file should
 * not be blocked by an unrelated file.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const build = spawnSync(
    process.execPath,
    ['node_modules/typescript/bin/tsc', '-b', 'tsconfig.build.json'],
    {
      cwd: root,
      encoding: 'utf8',
    },
  );
  if (build.status !== 0)
    process.stderr.write(`warning: the build reported errors:\n${build.stdout}${build.stderr}\n`);
  const assets = spawnSync(process.execPath, ['scripts/copy-assets.mjs'], { cwd: root, stdio: 'inherit' });
  if (assets.status !== 0) throw new Error('copying build assets failed');
}
