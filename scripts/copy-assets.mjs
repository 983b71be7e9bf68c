// Copies non-TypeScript runtime assets (Lua scripts) next to the compiled JavaScript in dist/.
import { chmodSync, cpSync, existsSync, globSync, readFileSync, rmSync } from 'node:fs';

for (const file of globSync('libs/*/src/**/*.lua')) cpSync(file, `dist/${file}`);

// tsc leaves the output of a removed or renamed source in dist/; the kind registry loads every file
// of a built catalog at start, so there such a leftover would still be a kind (or a kind twice).
for (const file of globSync('dist/libs/*/src/**/catalog/*.{js,js.map}')) {
  const source = file.slice('dist/'.length).replace(/\.js(\.map)?$/, '.ts');
  if (!existsSync(source)) rmSync(file, { force: true });
}

// The package's commands are run straight from dist/ (`npx tokenkeeper` from a clone), so they must
// be executable. tsc writes them 0644; npm marks a bin executable only when it links it, and
// `npx` reuses an existing link from its cache, so a fresh build must not depend on that.
if (existsSync('package.json')) {
  const { bin = {} } = JSON.parse(readFileSync('package.json', 'utf8'));
  for (const file of Object.values(bin)) chmodSync(file, 0o755);
}
