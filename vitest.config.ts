import { defineConfig } from 'vitest/config'

const project = (name: string, dir: string) => ({
  extends: true as const,
  test: { name, include: [`${dir}/**/*.test.ts`] },
})

export default defineConfig({
  test: {
    // One embedded Postgres (or DATABASE_URL) and the machine's Redis for the whole run.
    globalSetup: ['./test/global-setup.ts'],
    // Suites share one Postgres engine and one Redis: run files one at a time, tests in order.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    projects: [
      project('platform', 'packages/platform'),
      project('db', 'packages/db'),
      project('redis', 'packages/redis'),
      project('queues', 'packages/queues'),
      project('models', 'packages/models'),
      project('training-data', 'packages/training-data'),
      project('testing', 'packages/testing'),
      project('openai-local', 'apps/openai-local'),
      project('gateway', 'apps/gateway'),
      project('exporter', 'apps/exporter'),
      project('tuner', 'apps/tuner'),
      project('evaluator', 'apps/evaluator'),
      project('scripts', 'scripts'),
      // The bench runner's reporter (JSON rows, --compare); the benches themselves run via `npm run bench`.
      project('bench', 'bench'),
      // Tests that span apps (each app's own tests import only packages and that app).
      project('e2e', 'test/e2e'),
    ],
  },
})
