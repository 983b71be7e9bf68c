// Copies non-TypeScript runtime assets (Lua scripts) next to the compiled JavaScript in dist/.
import { cpSync, existsSync, globSync, rmSync } from 'node:fs';

for (const file of globSync('libs/*/src/**/*.lua')) cpSync(file, `dist/${file}`);

// tsc leaves the output of a removed or renamed source in dist/; the kind registry loads every file
// of a built catalog at start, so there such a leftover would still be a kind (or a kind twice).
for (const file of globSync('dist/libs/*/src/**/catalog/*.{js,js.map}')) {
  const source = file.slice('dist/'.length).replace(/\.js(\.map)?$/, '.ts');
  if (!existsSync(source)) rmSync(file, { force: true });
}
