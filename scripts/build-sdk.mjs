// Builds the SDK package, @tokenkeeper/client, into dist/sdk: ES modules and type declarations
// compiled from libs/client (ES2022, no dependencies), with its package.json and README.
// `npm run sdk:pack` then writes dist/tokenkeeper-client-<version>.tgz.
import { spawnSync } from 'node:child_process';
import { cpSync, globSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const OUT = 'dist/sdk';
rmSync(OUT, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compiled = spawnSync(
  process.execPath,
  [
    tsc,
    '-p',
    'libs/client/tsconfig.json',
    '--outDir',
    `${OUT}/dist`,
    '--sourceMap',
    'false',
    '--declarationMap',
    'false',
  ],
  { stdio: 'inherit' },
);
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

// The package stands alone: every import is one of its own files, never a `#…` import of the
// repository or a package it does not declare.
for (const file of globSync(`${OUT}/dist/**/*.{js,d.ts}`)) {
  const text = readFileSync(file, 'utf8');
  for (const [, specifier] of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)) {
    if (!specifier.startsWith('./')) {
      console.error(`${file} imports ${specifier}: the SDK package can only import its own files`);
      process.exit(1);
    }
  }
}

const pkg = JSON.parse(readFileSync('libs/client/package.json', 'utf8'));
delete pkg.scripts;
delete pkg.devDependencies;
writeFileSync(`${OUT}/package.json`, `${JSON.stringify(pkg, null, 2)}\n`);
cpSync('libs/client/README.md', `${OUT}/README.md`);
