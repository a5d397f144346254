/**
 * `bigfs-bench`: throughput, metadata and recovery benchmarks, each measured against this
 * machine's own ceilings in the same run.
 *
 * @module
 */
export {};
