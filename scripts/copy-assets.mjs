// Copies non-TypeScript runtime assets (Lua scripts) next to the compiled JavaScript in dist/.
import { cpSync, globSync } from 'node:fs';

for (const file of globSync('libs/*/src/**/*.lua')) cpSync(file, `dist/${file}`);
