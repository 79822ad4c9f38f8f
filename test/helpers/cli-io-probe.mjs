// Preloaded into a child `node --import` process by cli-run.ts: at exit, copies /proc/self/io (the
// bytes the process read and wrote through system calls) and its peak resident memory to the file
// named by NDPACK_IO_PROBE.
import { readFileSync, writeFileSync } from "node:fs";

process.on("exit", () => {
  const io = readFileSync("/proc/self/io", "utf8");
  writeFileSync(process.env.NDPACK_IO_PROBE, `${io}maxrss_kib: ${process.resourceUsage().maxRSS}\n`);
});
