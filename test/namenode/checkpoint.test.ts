import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadNewestImage, writeImage } from "../../namenode/checkpoint.js";

const imageHeaderBytes = 48;

function imageOf(seed: number, length = 1000 + seed): Uint8Array {
  return Uint8Array.from({ length }, (_, index) => (index * 31 + seed * 7) & 0xff);
}

function nameOf(txid: bigint): string {
  return `image_${txid.toString().padStart(20, "0")}.img`;
}

async function withFolder(body: (folder: string) => Promise<void>): Promise<void> {
  const folder = await mkdtemp(join(tmpdir(), "bigfs-"));
  try {
    await body(folder);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

async function rejects(action: () => Promise<unknown>, expects: RegExp): Promise<void> {
  let settled = false;
  try {
    await action();
    settled = true;
  } catch (error) {
    assert.match(String((error as Error)?.message), expects);
  }
  if (settled) assert.unreachable("it resolved");
}

test("an image written is loaded back with its txid", async () => {
  await withFolder(async (folder) => {
    assert.is(await loadNewestImage(folder), undefined, "no image yet");
    assert.is(await loadNewestImage(join(folder, "missing")), undefined, "no folder yet");
    const image = imageOf(1);
    const written = await writeImage(folder, 42n, image);
    assert.equal(written, { file: join(folder, nameOf(42n)), oldestKeptTxid: 42n });
    assert.is((await readFile(written.file)).byteLength, imageHeaderBytes + image.byteLength);
    const loaded = await loadNewestImage(folder);
    assert.ok(loaded);
    assert.is(loaded.txid, 42n);
    assert.equal(loaded.image, image);
    assert.equal(loaded.skipped, []);
    assert.equal(await readdir(folder), [nameOf(42n)]);
  });
});

test("an empty image round-trips", async () => {
  await withFolder(async (folder) => {
    await writeImage(folder, 0n, new Uint8Array(0));
    const loaded = await loadNewestImage(folder);
    assert.is(loaded?.txid, 0n);
    assert.is(loaded?.image.byteLength, 0);
  });
});

test("only the two newest images are kept", async () => {
  await withFolder(async (folder) => {
    assert.is((await writeImage(folder, 10n, imageOf(1))).oldestKeptTxid, 10n);
    assert.is((await writeImage(folder, 20n, imageOf(2))).oldestKeptTxid, 10n);
    assert.is((await writeImage(folder, 30n, imageOf(3))).oldestKeptTxid, 20n);
    assert.is((await writeImage(folder, 40n, imageOf(4))).oldestKeptTxid, 30n);
    assert.equal((await readdir(folder)).sort(), [nameOf(30n), nameOf(40n)]);
    const loaded = await loadNewestImage(folder);
    assert.is(loaded?.txid, 40n);
    assert.equal(loaded?.image, imageOf(4));
  });
});

const corruptions: { name: string; mutate: (bytes: Uint8Array) => Uint8Array; reason: RegExp }[] = [
  {
    name: "a bit flipped in the content",
    mutate: (bytes) => {
      const copy = bytes.slice();
      copy[imageHeaderBytes + 100]! ^= 0x04;
      return copy;
    },
    reason: /content checksum mismatch/,
  },
  {
    name: "the content cut short",
    mutate: (bytes) => bytes.subarray(0, bytes.byteLength - 10),
    reason: /the content is \d+ bytes, the header says \d+/,
  },
  {
    name: "the header cut short",
    mutate: (bytes) => bytes.subarray(0, 20),
    reason: /header cut short/,
  },
  {
    name: "a bit flipped in the header's length",
    mutate: (bytes) => {
      const copy = bytes.slice();
      copy[31]! ^= 0x01;
      return copy;
    },
    reason: /header checksum mismatch/,
  },
  {
    name: "a zeroed file",
    mutate: (bytes) => new Uint8Array(bytes.byteLength),
    reason: /bad header magic/,
  },
];

for (const corruption of corruptions) {
  test(`a corrupt newest image (${corruption.name}) falls back to the older one`, async () => {
    await withFolder(async (folder) => {
      await writeImage(folder, 10n, imageOf(1));
      const { file } = await writeImage(folder, 20n, imageOf(2));
      await writeFile(file, corruption.mutate(new Uint8Array(await readFile(file))));
      const loaded = await loadNewestImage(folder);
      assert.ok(loaded);
      assert.is(loaded.txid, 10n);
      assert.equal(loaded.image, imageOf(1));
      assert.is(loaded.skipped.length, 1);
      assert.is(loaded.skipped[0]?.file, file);
      assert.match(loaded.skipped[0]?.reason ?? "", corruption.reason);
    });
  });
}

test("an image whose header names another txid than its file is skipped", async () => {
  await withFolder(async (folder) => {
    await writeImage(folder, 10n, imageOf(1));
    const { file } = await writeImage(folder, 20n, imageOf(2));
    await writeFile(join(folder, nameOf(30n)), await readFile(file));
    const loaded = await loadNewestImage(folder);
    assert.is(loaded?.txid, 20n);
    assert.match(loaded?.skipped[0]?.reason ?? "", /txid 20 differs from the file name's/);
  });
});

test("when every image is corrupt, loading refuses instead of starting empty", async () => {
  await withFolder(async (folder) => {
    for (const txid of [10n, 20n]) {
      const { file } = await writeImage(folder, txid, imageOf(Number(txid)));
      const bytes = new Uint8Array(await readFile(file));
      bytes[bytes.byteLength - 1]! ^= 0x80;
      await writeFile(file, bytes);
    }
    await rejects(
      () => loadNewestImage(folder),
      /^Cannot load a namespace image: every image is corrupt: .*image_0+20\.img: content checksum mismatch; .*image_0+10\.img: content checksum mismatch$/,
    );
  });
});

test(".tmp leftovers of an interrupted write are ignored and removed", async () => {
  await withFolder(async (folder) => {
    await writeImage(folder, 10n, imageOf(1));
    // A newer image whose write was interrupted: complete-looking bytes, never renamed.
    const { file } = await writeImage(join(folder, "elsewhere"), 20n, imageOf(2));
    await writeFile(join(folder, `${nameOf(20n)}.tmp`), await readFile(file));
    await writeFile(join(folder, `${nameOf(30n)}.tmp`), imageOf(3).subarray(0, 5));
    await rm(join(folder, "elsewhere"), { recursive: true });
    const loaded = await loadNewestImage(folder);
    assert.is(loaded?.txid, 10n);
    assert.equal(loaded?.skipped, []);
    assert.equal(await readdir(folder), [nameOf(10n)]);
  });
});

test("a large image round-trips", async () => {
  await withFolder(async (folder) => {
    const image = imageOf(5, 24 * 1024 * 1024 + 3);
    await writeImage(folder, 7n, image);
    const loaded = await loadNewestImage(folder);
    assert.is(loaded?.txid, 7n);
    assert.ok(Buffer.compare(loaded!.image, image) === 0);
  });
});

test.run();
