// Integration tests: real kube-apiserver (the local control plane), real
// Postgres, real gRPC connections. The global setup starts a throwaway Postgres
// when DATABASE_URL is unset and checks that the cluster is reachable.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/integration/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // 2-core machines: a few files at a time keeps the apiserver responsive.
    maxWorkers: 3,
  },
});
