#!/usr/bin/env node
/**
 * `bigfs`: the BigFS command-line client. See `bigfs --help`, and `cli_run.ts` for how a
 * command line becomes an exit code (0 success, 1 the operation failed, 2 usage).
 *
 * Ctrl-C once aborts the running transfer cleanly (an upload is abandoned, a partial
 * download removed); twice exits at once. A reader that closes stdout early
 * (`bigfs cat /f | head`) ends the command quietly with exit code 0.
 */
import { isBrokenPipe, runCli } from "./cli_run.js";

const controller = new AbortController();
process.on("SIGINT", () => {
  if (controller.signal.aborted) process.exit(130);
  controller.abort();
});
process.stdout.on("error", (error) => {
  if (isBrokenPipe(error)) process.exit(0);
  throw error;
});

const exitCode = await runCli(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  signal: controller.signal,
});
// Let stdout drain (a pipe may still hold the end of a `cat`), then exit even if a socket
// or timer somewhere would keep the process alive.
process.stdout.write("", () => process.exit(exitCode));
