/** The seeded fuzzer against a real NameNode process (see `test/fuzz/daemon_fuzz_test.ts`). */
import { test } from "uvu";
import { daemonFuzzTest } from "../fuzz/daemon_fuzz_test.js";

daemonFuzzTest("NameNode", "namenode", { code: "INVALID_PATH", what: "INVALID_PATH answers" });

test.run();
