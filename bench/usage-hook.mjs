/**
 * Preloaded (`node --import`) into a command the benchmark runs as a child process: when the
 * process exits, writes its peak RSS, CPU time (every thread: the main one and libuv's pool) and
 * wall time to the file named by NDPACK_BENCH_USAGE, which Node reports only to the process itself.
 */
import { writeFileSync } from "node:fs";

const file = process.env.NDPACK_BENCH_USAGE;
if (file) {
  process.on("exit", () => {
    const usage = process.resourceUsage();
    writeFileSync(file, JSON.stringify({ maxRss: usage.maxRSS * 1024, cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000, wallMs: process.uptime() * 1000 }));
  });
}
