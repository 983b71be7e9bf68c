import { fileURLToPath } from 'node:url';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

const lib = (name: string) => fileURLToPath(new URL(`./libs/${name}/src/index.ts`, import.meta.url));

export default defineConfig({
  plugins: [
    swc.vite({
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
      },
    }),
  ],
  resolve: {
    alias: Object.fromEntries(
      [
        'core',
        'common',
        'store',
        'grants',
        'queues',
        'refresh',
        'runtime',
        'events',
        'webhooks',
        'client',
        'telemetry',
      ].map((n) => [`#${n}`, lib(n)]),
    ),
  },
  test: {
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['libs/**/*.test.ts', 'apps/**/*.test.ts', 'test/unit/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          globalSetup: ['test/support/global-setup.ts'],
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
      {
        // Rotation soaks with a bounded wall clock (≤ 4 min each), part of `npm test`; run one file
        // at a time (`--no-file-parallelism`): each measures a fleet under load on its own.
        extends: true,
        test: {
          name: 'soak-ci',
          globalSetup: ['test/support/global-setup.ts'],
          include: ['test/soak-ci/**/*.test.ts'],
          testTimeout: 240_000,
          hookTimeout: 120_000,
        },
      },
      {
        // The chaos soak runs on demand (`npm run soak`, `npm run soak:long`), not in `npm test`.
        extends: true,
        test: {
          name: 'soak',
          globalSetup: ['test/support/global-setup.ts'],
          include: ['test/soak/**/*.test.ts'],
          testTimeout: 1_800_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
