import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * `npm run test:cluster`: the integration suites that exercise the store, refreshes and token
 * reads, run against a local 3-master Redis Cluster (test/support/redis-cluster.ts) with the
 * event feed in 4 partitions. Kept out of `npm test`: it needs `redis-cli` and takes minutes.
 */
export default defineConfig({
  plugins: base.plugins,
  resolve: base.resolve,
  test: {
    name: 'cluster',
    globalSetup: ['test/support/global-setup.ts'],
    include: [
      'test/cluster/**/*.test.ts',
      'test/e2e/walking-system.test.ts',
      'test/e2e/refresh-failures.test.ts',
      'test/e2e/reliability.test.ts',
    ],
    env: { TK_TEST_CLUSTER: '1' },
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
