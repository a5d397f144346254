/**
 * The DataNode: the checksummed chunk store, the pipelined write and verified read service,
 * heartbeats and chunk reports, command execution and the scrubber.
 *
 * @module
 */
export {};
