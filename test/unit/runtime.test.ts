import { describe, expect, it } from 'vitest';

/**
 * npm scripts run on node_modules/.bin/node (the `node` devDependency, Node 24). When its install
 * script is skipped (npm's allowScripts, --ignore-scripts) that binary is missing and npm silently
 * falls back to the system Node 20: this test makes that fallback fail loudly.
 */
describe('runtime', () => {
  it('runs on Node 24', () => {
    expect(process.versions.node, `tests ran on ${process.execPath}`).toMatch(/^24\./);
  });
});
