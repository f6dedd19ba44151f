import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration files start real servers; two files at a time keep the 2-core machine responsive.
    maxWorkers: 2,
    pool: "forks",
    globalSetup: ["test/harness/global-tmp.ts"],
  },
});
