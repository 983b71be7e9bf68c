import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * `npm run bench`: test/bench/run.bench-run.ts measures the quality bars against same-run
 * baselines, prints a table and writes test-results/bench.json. Kept out of `npm test`.
 */
export default defineConfig({
  plugins: base.plugins,
  resolve: base.resolve,
  test: {
    name: 'bench',
    globalSetup: ['test/support/global-setup.ts'],
    include: ['test/bench/**/*.bench-run.ts'],
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 120_000,
  },
});
