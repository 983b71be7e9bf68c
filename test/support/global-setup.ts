import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Integration and e2e tests run the compiled apps: build once (incremental) before they start. */
export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-b', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  execFileSync(process.execPath, ['scripts/copy-assets.mjs'], { cwd: root, stdio: 'inherit' });
}
