import { defineConfig } from "tsup";

export default defineConfig({
  entry: {
    index: "src/index.ts",
    "node/index": "src/node/index.ts",
    "interop/index": "src/interop/index.ts",
    "cli/main": "src/cli/main.ts",
  },
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  platform: "neutral",
  splitting: true,
  treeshake: true,
  external: ["node:*", "pako", "#pako-inflate", "#pako-deflate", "commander"],
});
