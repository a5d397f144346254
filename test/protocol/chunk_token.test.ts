import { createHmac, randomBytes } from "node:crypto";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type ChunkGrant,
  type ChunkOperation,
  type ChunkTokenExpectation,
  chunkTokenSizeBytes,
  deriveChunkTokenKey,
  mintChunkToken,
  verifyChunkToken,
} from "../../protocol/chunk_token.js";
import { BigFsError } from "../../protocol/errors.js";

const secret = new TextEncoder().encode("the cluster secret, 32 bytes ok!");
const nowMs = Date.UTC(2030, 0, 1);
const grant: ChunkGrant = {
  chunkId: 0x0102030405060708n,
  generation: 9n,
  operation: "write",
  expiresAtMs: nowMs + 60_000,
};
const expected: ChunkTokenExpectation = {
  chunkId: grant.chunkId,
  operation: "write",
  generation: 9n,
  nowMs,
};

function hex(value: string): Uint8Array {
  return Uint8Array.from(Buffer.from(value.replaceAll(" ", ""), "hex"));
}

/** Returns the ACCESS_DENIED message `verify` throws, failing the test if it throws anything else. */
function refusal(verify: () => unknown): string {
  try {
    verify();
  } catch (error) {
    if (!(error instanceof BigFsError)) throw error;
    assert.is(error.code, "ACCESS_DENIED");
    return error.message;
  }
  assert.unreachable("the token was accepted");
  return "";
}

test("a token is 58 bytes laid out as the format says, with the MAC under the derived key", () => {
  const token = mintChunkToken(secret, grant);
  assert.is(token.byteLength, chunkTokenSizeBytes);
  const expiry = (nowMs + 60_000).toString(16).padStart(16, "0");
  const signed = hex(`01 02 0102030405060708 0000000000000009 ${expiry}`);
  assert.equal(token.subarray(0, 26), signed);
  const key = createHmac("sha256", secret).update("bigfs chunk token v1").digest();
  assert.equal(new Uint8Array(deriveChunkTokenKey(secret)), new Uint8Array(key));
  const mac = createHmac("sha256", key).update(signed).digest();
  assert.equal(token.subarray(26), new Uint8Array(mac));
});

test("a token is not signed with the raw cluster secret", () => {
  const token = mintChunkToken(secret, grant);
  const rawMac = createHmac("sha256", secret).update(token.subarray(0, 26)).digest();
  assert.not.equal(token.subarray(26), new Uint8Array(rawMac));
});

test("a valid token is accepted and its grant returned", () => {
  const token = mintChunkToken(secret, grant);
  assert.equal(verifyChunkToken(secret, token, expected), grant);
});

test("every operation round-trips, with its own wire code", () => {
  const operations: ChunkOperation[] = ["read", "write", "replicate", "delete"];
  for (const [index, operation] of operations.entries()) {
    const token = mintChunkToken(secret, { ...grant, operation });
    assert.is(token[1], index + 1);
    assert.is(verifyChunkToken(secret, token, { ...expected, operation }).operation, operation);
  }
});

test("the largest chunk id and generation round-trip", () => {
  const u64Max = 2n ** 64n - 1n;
  const big = { ...grant, chunkId: u64Max, generation: u64Max };
  const token = mintChunkToken(secret, big);
  assert.equal(
    verifyChunkToken(secret, token, { ...expected, chunkId: u64Max, generation: u64Max }),
    big,
  );
});

test("the generation is not checked when the verifier does not give one", () => {
  const token = mintChunkToken(secret, grant);
  const { generation: _, ...withoutGeneration } = expected;
  assert.is(verifyChunkToken(secret, token, withoutGeneration).generation, 9n);
});

test("a token inside a larger buffer (non-zero byteOffset) is accepted", () => {
  const token = mintChunkToken(secret, grant);
  const backing = new Uint8Array(token.byteLength + 20).fill(0xaa);
  backing.set(token, 7);
  assert.equal(
    verifyChunkToken(secret, backing.subarray(7, 7 + token.byteLength), expected),
    grant,
  );
  assert.equal(verifyChunkToken(secret, Buffer.from(token), expected), grant);
});

test("a token without nowMs is checked against the clock", () => {
  const live = mintChunkToken(secret, { ...grant, expiresAtMs: Date.now() + 60_000 });
  verifyChunkToken(secret, live, { chunkId: grant.chunkId, operation: "write" });
  const dead = mintChunkToken(secret, { ...grant, expiresAtMs: Date.now() - 1 });
  refusal(() => verifyChunkToken(secret, dead, { chunkId: grant.chunkId, operation: "write" }));
});

test("a token is refused from the instant it expires", () => {
  const token = mintChunkToken(secret, grant);
  verifyChunkToken(secret, token, { ...expected, nowMs: grant.expiresAtMs - 1 });
  assert.is(
    refusal(() => verifyChunkToken(secret, token, { ...expected, nowMs: grant.expiresAtMs })),
    "Cannot write chunk 72623859790382856: token expired at 2030-01-01T00:01:00.000Z, 0 ms ago",
  );
  assert.match(
    refusal(() => verifyChunkToken(secret, token, { ...expected, nowMs: nowMs + 3_600_000 })),
    "expired at 2030-01-01T00:01:00.000Z, 3540000 ms ago",
  );
});

test("a token for another chunk is refused", () => {
  const token = mintChunkToken(secret, grant);
  assert.is(
    refusal(() => verifyChunkToken(secret, token, { ...expected, chunkId: 5n })),
    "Cannot write chunk 5: token is granted for chunk 72623859790382856",
  );
});

test("a token for another operation is refused", () => {
  const token = mintChunkToken(secret, { ...grant, operation: "read" });
  assert.is(
    refusal(() => verifyChunkToken(secret, token, expected)),
    "Cannot write chunk 72623859790382856: token is granted for read, not write",
  );
});

test("a token for another generation is refused", () => {
  const token = mintChunkToken(secret, grant);
  assert.is(
    refusal(() => verifyChunkToken(secret, token, { ...expected, generation: 10n })),
    "Cannot write chunk 72623859790382856: token is granted for generation 9, not 10",
  );
});

test("a token minted with another secret is refused as badly signed", () => {
  const token = mintChunkToken(randomBytes(32), grant);
  assert.match(
    refusal(() => verifyChunkToken(secret, token, expected)),
    "bad signature",
  );
});

test("a token with any one byte changed is refused", () => {
  const token = mintChunkToken(secret, grant);
  for (let offset = 0; offset < token.byteLength; offset++) {
    for (const mask of [0x01, 0x80, 0xff]) {
      const tampered = token.slice();
      tampered[offset] = (tampered[offset] ?? 0) ^ mask;
      const message = refusal(() => verifyChunkToken(secret, tampered, expected));
      assert.match(message, offset === 0 ? "unknown version" : "bad signature", `byte ${offset}`);
    }
  }
});

test("a truncated, extended or empty token is refused as malformed", () => {
  const token = mintChunkToken(secret, grant);
  for (let length = 0; length < token.byteLength; length++) {
    assert.match(
      refusal(() => verifyChunkToken(secret, token.subarray(0, length), expected)),
      `token is malformed: ${length} bytes, expected 58`,
    );
  }
  const longer = new Uint8Array(token.byteLength + 1);
  longer.set(token);
  assert.match(
    refusal(() => verifyChunkToken(secret, longer, expected)),
    "59 bytes",
  );
});

test("a token that is not a byte string at all is refused as malformed", () => {
  for (const value of [undefined, null, 42, "token", [1, 2, 3], {}, new Uint16Array(29)]) {
    assert.match(
      refusal(() => verifyChunkToken(secret, value as unknown as Uint8Array, expected)),
      "not a byte string",
    );
  }
});

test("random bytes of any length are refused with ACCESS_DENIED and nothing else", () => {
  for (let round = 0; round < 2_000; round++) {
    const length = round % 4 === 0 ? chunkTokenSizeBytes : Math.floor(Math.random() * 100);
    const bytes = randomBytes(length);
    if (round % 8 === 0 && length > 0) bytes[0] = 1;
    refusal(() => verifyChunkToken(secret, bytes, expected));
  }
});

test("a correctly signed token with an unknown operation code is refused as malformed", () => {
  const token = mintChunkToken(secret, grant);
  token[1] = 9;
  const key = deriveChunkTokenKey(secret);
  token.set(createHmac("sha256", key).update(token.subarray(0, 26)).digest(), 26);
  assert.match(
    refusal(() => verifyChunkToken(secret, token, expected)),
    "malformed: unknown operation code 9",
  );
});

test("minting a grant that cannot be encoded is a bug and throws TypeError or RangeError", () => {
  const bad: unknown[] = [
    { ...grant, chunkId: -1n },
    { ...grant, chunkId: 2n ** 64n },
    { ...grant, generation: 9 },
    { ...grant, operation: "append" },
    { ...grant, operation: "toString" },
    { ...grant, expiresAtMs: 1.5 },
    { ...grant, expiresAtMs: -1 },
    { ...grant, expiresAtMs: Number.NaN },
    { ...grant, expiresAtMs: 8.64e15 + 1 },
  ];
  for (const value of bad) {
    assert.throws(
      () => mintChunkToken(secret, value as ChunkGrant),
      (error: unknown) => error instanceof RangeError || error instanceof TypeError,
      JSON.stringify(value, (_, field) => (typeof field === "bigint" ? `${field}n` : field)),
    );
  }
  assert.throws(
    () => mintChunkToken(new Uint8Array(0), grant),
    (error: unknown) => error instanceof TypeError,
  );
});

test.run();
