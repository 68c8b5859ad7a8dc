// Unit tests: pure logic, `*.test.ts` beside the code. No cluster, no database.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["{services,operator,src,hack}/**/*.test.ts"],
    exclude: ["**/node_modules/**", "test/integration/**"],
  },
});
