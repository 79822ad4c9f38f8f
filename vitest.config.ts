import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Vitest's default is one worker fewer than the cores: one worker on the 2-core machines
    // `npm test` must run on, where it then waits, a file at a time, on the Python, Chromium, nginx
    // and CLI processes most files start. At least two keep both cores busy.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
