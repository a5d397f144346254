/**
 * The BigFS client: the `BigFsClient` library, which streams bytes straight to and from
 * DataNodes, and the `bigfs` command-line tool.
 *
 * @module
 */
export {};
