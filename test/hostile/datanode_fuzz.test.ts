/** The seeded fuzzer against a real DataNode process (see `test/fuzz/daemon_fuzz_test.ts`). */
import { test } from "uvu";
import { daemonFuzzTest } from "../fuzz/daemon_fuzz_test.js";

daemonFuzzTest("DataNode", "datanode", { code: "ACCESS_DENIED", what: "refused chunk tokens" });

test.run();
