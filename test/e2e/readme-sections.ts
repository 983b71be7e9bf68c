import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The shell commands between `<!-- name:start -->` and `<!-- name:end -->` of the README (its
 * fenced `sh` blocks), as a new user would paste them.
 */
export function readmeSection(name: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = new RegExp(`<!-- ${name}:start -->([\\s\\S]*?)<!-- ${name}:end -->`).exec(readme)?.[1];
  if (!section) throw new Error(`README has no ${name} section`);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]).join('\n');
}
