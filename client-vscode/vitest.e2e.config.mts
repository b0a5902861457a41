import { defineConfig } from 'vitest/config';

// The end-to-end suite: a real VS Code (code-server) in headless Chromium. Slow, one file at a time.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 240_000,
  },
});
