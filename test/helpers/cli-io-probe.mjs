// Preloaded into a child `node --import` process by cli-run.ts: at exit, copies /proc/self/io (the
// bytes the process read and wrote through system calls) to the file named by NDPACK_IO_PROBE.
import { readFileSync, writeFileSync } from "node:fs";

process.on("exit", () => {
  writeFileSync(process.env.NDPACK_IO_PROBE, readFileSync("/proc/self/io", "utf8"));
});
