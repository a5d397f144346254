/**
 * The machine a run measured, for the report: figures mean something only beside it.
 */
import { cpus, totalmem } from "node:os";
import type { MachineInfo } from "./result.js";

/** CPUs, CPU model, memory, Node.js version and platform of this machine. */
export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model.trim() || "unknown",
    memoryBytes: totalmem(),
    node: process.versions.node,
    platform: `${process.platform} ${process.arch}`,
  };
}
