/**
 * Preloaded into a client process the bench runs (`node --import <this file> bigfs ...`):
 * when the process exits, it writes its peak resident memory in bytes (the kernel's
 * `ru_maxrss`, through `process.resourceUsage()`) to the file named by
 * `BIGFS_BENCH_PEAK_RSS_FILE`. Sampling `/proc` from outside cannot see the last moments of a
 * process that exits; the process itself can, and the kernel's figure is the exact peak.
 *
 * @module
 */
import { writeFileSync } from "node:fs";

const path = process.env.BIGFS_BENCH_PEAK_RSS_FILE;
if (path !== undefined && path !== "") {
  process.on("exit", () => {
    writeFileSync(path, String(process.resourceUsage().maxRSS * 1024));
  });
}
