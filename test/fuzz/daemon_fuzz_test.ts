/**
 * The in-suite fuzz test of one daemon, shared by `test/hostile/*_fuzz.test.ts`: 100,000 inputs
 * at its protocol and HTTP ports, before and after the handshake, while a real client keeps
 * uploading and reading back files; then checks that the inputs reached every layer. Replay a
 * failure with `BIGFS_FUZZ_SEED=<seed>`.
 */

import { test } from "uvu";
import * as assert from "uvu/assert";
import type { ErrorCodeName } from "#protocol";
import { runClusterFuzz } from "./cluster_fuzz.js";
import { fuzzSeed } from "./fuzz_seed.js";

/** Registers the fuzz test of `target`; `handlerRefusal` is an error only its handlers give. */
export function daemonFuzzTest(
  name: "NameNode" | "DataNode",
  target: "namenode" | "datanode",
  handlerRefusal: { code: ErrorCodeName; what: string },
): void {
  // A fixed seed keeps the suite repeatable; `npm run fuzz` draws a new one each run.
  const seed = fuzzSeed(process.env.BIGFS_FUZZ_SEED || "20261127");
  const inputs = 100_000;
  test(`a ${name} takes ${inputs} fuzzed inputs and keeps serving a real client (seed ${seed})`, async () => {
    console.log(`  fuzzing the ${name} with seed ${seed} (BIGFS_FUZZ_SEED=${seed} replays it)`);
    const counts = await runClusterFuzz({ target, seed, inputs });
    console.log(`  ${name} fuzz counts: ${JSON.stringify(counts)}`);
    assert.ok(counts.inputs >= inputs, `only ${counts.inputs} inputs`);
    // The inputs reached every layer: the handshake, the decoder, the handlers, the HTTP port.
    assert.ok(counts.handshakeInputs > 2000, `only ${counts.handshakeInputs} handshake inputs`);
    assert.ok(counts.brokenFrames > 500, `only ${counts.brokenFrames} broken frames`);
    assert.ok((counts.errorCodes.PROTOCOL ?? 0) > 100, "too few PROTOCOL refusals");
    const refusals = counts.errorCodes[handlerRefusal.code] ?? 0;
    assert.ok(refusals > 1000, `only ${refusals} ${handlerRefusal.what}`);
    assert.ok(counts.responses > 1000, `only ${counts.responses} successful responses`);
    assert.ok(counts.httpRequests > 5000, `only ${counts.httpRequests} HTTP requests`);
    for (const status of ["200", "400", "404", "413", "431"]) {
      assert.ok((counts.httpStatuses[status] ?? 0) > 0, `no HTTP ${status} answers`);
    }
    assert.ok(counts.validChecks >= 10, `only ${counts.validChecks} valid client checks`);
  });
}
