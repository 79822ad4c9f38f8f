// Preloaded (node --import) into the processes of scripts/fuzz-resources.ts: reports the peak RSS at
// exit. VmHWM, not resourceUsage().maxRSS: Linux carries ru_maxrss across exec, so a child would
// report at least its parent's peak.
import { readFileSync } from "node:fs";

process.on("exit", () => {
  let kib = process.resourceUsage().maxRSS;
  try {
    kib = Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? kib);
  } catch {
    // Not Linux: resourceUsage is the best there is.
  }
  process.stderr.write(`\nmaxrss_mib: ${Math.round(kib / 1024)}\n`);
});
