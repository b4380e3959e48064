import {defineConfig} from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // The model tests are CPU-bound; two workers fit the 2-core machines CI runs on.
    maxWorkers: 2,
    reporters: ['default', './tests/summary-reporter.ts'],
  },
});
