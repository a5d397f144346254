/**
 * Namespace images (checkpoints): the whole namespace as of one txid, as opaque bytes that the
 * namespace encodes and decodes. Start-up loads the newest valid image, then replays the edit log
 * after its txid, so images bound replay time.
 *
 * ## Files
 *
 * Images sit next to the edit log in `<data-dir>/current`, named
 * `image_<txid, 20 decimal digits, zero padded>.img`. One is written as `<name>.tmp`, fsynced,
 * renamed to its name, and the folder fsynced, so an image either exists whole or not at all;
 * a `.tmp` left by a crash is deleted at start-up. The two newest images are kept, so that a
 * newest image found corrupt can be replaced by the one before it.
 *
 * ## Format: a 48-byte header, then the content
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 8 | magic, the ASCII bytes `BFSIMAGE` |
 * | 8 | 4 | format version, u32 big-endian, 1 |
 * | 12 | 4 | reserved, zero |
 * | 16 | 8 | txid, u64 big-endian; equals the txid in the file name |
 * | 24 | 8 | content length N, u64 big-endian; the file is exactly 48 + N bytes |
 * | 32 | 8 | xxh64 of the content, u64 big-endian |
 * | 40 | 8 | xxh64 of bytes 0 to 39, u64 big-endian |
 * | 48 | N | content |
 *
 * ## When and how the NameNode checkpoints
 *
 * Every N records or T seconds, and at a clean shutdown, the NameNode:
 *
 * 1. takes `txid = log.lastTxid` and begins an image of the namespace in the same synchronous
 *    step, so the image holds exactly the edits up to `txid` (edits may still be on their way
 *    to disk). The image is encoded a slice at a time while later edits are applied; what they
 *    change is saved for it first (`Namespace.imageInSlices`);
 * 2. awaits `log.rollSegment()`: it resolves once every edit up to `txid` is durable, and
 *    later edits go to a new segment. An image must never hold an edit that the log may lose,
 *    so if it rejects, no image is written;
 * 3. awaits `writeImage(folder, txid, image)`, which keeps the two newest images;
 * 4. awaits `log.dropSegmentsThrough(oldestKeptTxid)` with the `oldestKeptTxid` that
 *    `writeImage` returned, not `txid`: the edits after the older kept image must stay, or that
 *    image could not be used when the newest one is found corrupt.
 *
 * A crash between any two steps leaves a state start-up handles: an image with a `.tmp` name is
 * deleted, and the edits an image already holds are skipped by `afterTxid`.
 *
 * @module
 */

import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { type Logger, replaceFileDurably, syncFolder, xxh64 } from "#protocol";
import type { ImageParts } from "./_namespace_image_io.js";

const imageMagic = new TextEncoder().encode("BFSIMAGE");
const formatVersion = 1;
const headerBytes = 48;
const imagesKept = 2;
const imageNamePattern = /^image_(\d{20})\.img$/;
const temporaryNamePattern = /^image_\d{20}\.img\.tmp$/;
const u64Max = 2n ** 64n - 1n;

/** What {@linkcode writeImage} returns. */
export interface WriteImageResult {
  /** The path of the image written. */
  file: string;
  /** The txid of the oldest image kept: edits through it may be dropped from the log. */
  oldestKeptTxid: bigint;
}

/** An image that {@linkcode loadNewestImage} passed over, and why. */
export interface SkippedImage {
  file: string;
  reason: string;
}

/** What {@linkcode loadNewestImage} returns. */
export interface LoadedImage {
  txid: bigint;
  /** The content, a view into the bytes read from the file. */
  image: Uint8Array;
  /** The path of the image loaded. */
  file: string;
  /** Newer images that were corrupt, newest first; each was also logged as a warning. */
  skipped: SkippedImage[];
}

/** Options for {@linkcode loadNewestImage}. */
export interface LoadImageOptions {
  /** Receives a warning for every corrupt image passed over. */
  logger?: Logger;
}

function imageName(txid: bigint): string {
  return `image_${txid.toString().padStart(20, "0")}.img`;
}

function encodeImageHeader(txid: bigint, byteLength: number, contentXxh64: bigint): Uint8Array {
  const header = new Uint8Array(headerBytes);
  const view = new DataView(header.buffer);
  header.set(imageMagic, 0);
  view.setUint32(8, formatVersion);
  view.setBigUint64(16, txid);
  view.setBigUint64(24, BigInt(byteLength));
  view.setBigUint64(32, contentXxh64);
  view.setBigUint64(40, xxh64(header.subarray(0, 40)));
  return header;
}

/** Returns the content of an image file, or what is wrong with it. */
function decodeImage(bytes: Uint8Array, txid: bigint): Uint8Array | string {
  if (bytes.byteLength < headerBytes) {
    return `header cut short (${bytes.byteLength} of ${headerBytes} bytes)`;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!imageMagic.every((byte, index) => bytes[index] === byte)) return "bad header magic";
  if (xxh64(bytes.subarray(0, 40)) !== view.getBigUint64(40)) return "header checksum mismatch";
  const version = view.getUint32(8);
  if (version !== formatVersion) return `unsupported format version ${version}`;
  const headerTxid = view.getBigUint64(16);
  if (headerTxid !== txid) return `the header's txid ${headerTxid} differs from the file name's`;
  const length = view.getBigUint64(24);
  if (BigInt(bytes.byteLength - headerBytes) !== length) {
    return `the content is ${bytes.byteLength - headerBytes} bytes, the header says ${length}`;
  }
  const content = bytes.subarray(headerBytes);
  if (xxh64(content) !== view.getBigUint64(32)) return "content checksum mismatch";
  return content;
}

/** The images in `folder` by txid, newest first. */
async function listImages(folder: string): Promise<{ name: string; txid: bigint }[]> {
  return (await readdir(folder))
    .filter((name) => imageNamePattern.test(name))
    .sort()
    .reverse()
    .map((name) => ({ name, txid: BigInt(imageNamePattern.exec(name)![1]!) }));
}

/**
 * Writes `image` as the image at `txid` (temp file, fsync, rename, fsync the folder), then deletes
 * all but the two newest images. The image bytes are written as they are, never copied.
 *
 * @throws {Error} when the image cannot be written; the temp file is removed and older images
 *   are untouched.
 */
export async function writeImage(
  folder: string,
  txid: bigint,
  image: Uint8Array | ImageParts,
): Promise<WriteImageResult> {
  // Parts are written as they are, with the length and hash they come with.
  const {
    parts,
    byteLength,
    xxh64: contentXxh64,
  } = image instanceof Uint8Array
    ? { parts: [image], byteLength: image.byteLength, xxh64: xxh64(image) }
    : image;
  if (typeof txid !== "bigint" || txid < 0n || txid > u64Max) {
    throw new RangeError(`Cannot write namespace image: txid ${String(txid)} is not a u64`);
  }
  const name = imageName(txid);
  const path = join(folder, name);
  try {
    await mkdir(folder, { recursive: true });
    // As `<name>.tmp` first, which start-up deletes should a crash leave it.
    await replaceFileDurably(path, [encodeImageHeader(txid, byteLength, contentXxh64), ...parts]);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`Cannot write namespace image ${name}: ${message}`, { cause: error });
  }
  const images = await listImages(folder);
  const stale = images.slice(imagesKept);
  for (const old of stale) await rm(join(folder, old.name), { force: true });
  if (stale.length > 0) await syncFolder(folder);
  const kept = images.slice(0, imagesKept);
  return { file: path, oldestKeptTxid: kept.at(-1)?.txid ?? txid };
}

/**
 * Loads the newest valid image in `folder`, passing over corrupt ones (newest first), after
 * deleting `.tmp` leftovers of interrupted writes. Resolves with `undefined` when there is no
 * image at all. Call it at start-up, never while an image is being written.
 *
 * @throws {Error} when images exist but every one is corrupt: starting from an empty namespace
 *   would lose everything they hold.
 */
export async function loadNewestImage(
  folder: string,
  options: LoadImageOptions = {},
): Promise<LoadedImage | undefined> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const leftovers = names.filter((name) => temporaryNamePattern.test(name));
  for (const name of leftovers) await rm(join(folder, name), { force: true });
  if (leftovers.length > 0) await syncFolder(folder);

  const skipped: SkippedImage[] = [];
  for (const { name, txid } of await listImages(folder)) {
    const file = join(folder, name);
    const buffer = await readFile(file);
    const decoded = decodeImage(
      new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength),
      txid,
    );
    if (typeof decoded !== "string") return { txid, image: decoded, file, skipped };
    skipped.push({ file, reason: decoded });
    options.logger?.warn(
      { file, reason: decoded },
      "namespace image is corrupt: trying an older one",
    );
  }
  if (skipped.length === 0) return undefined;
  const reasons = skipped.map(({ file, reason }) => `${file}: ${reason}`).join("; ");
  throw new Error(`Cannot load a namespace image: every image is corrupt: ${reasons}`);
}
