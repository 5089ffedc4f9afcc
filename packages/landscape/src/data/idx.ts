import { open, readFile, type FileHandle } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { checkInputDim, checkSampleMatrix } from './limits.js';
import { DataError, type Dataset } from './types.js';

/** Magic numbers: two zero bytes, type 0x08 (unsigned byte), number of dimensions. */
const IDX_IMAGES_MAGIC = 0x00000803;
const IDX_LABELS_MAGIC = 0x00000801;

const IDX_CLASSES = 10;

/** The header of an IDX file: item count, bytes per item, and where the items start. */
interface IdxHeader {
  path: string;
  count: number;
  itemBytes: number;
  headerBytes: number;
}

/** Reads and checks the header of a plain or gzipped IDX file of unsigned bytes. */
async function readIdxHeader(path: string, expectedMagic: number): Promise<IdxHeader> {
  const ndims = expectedMagic & 0xff;
  const headerBytes = 4 + 4 * ndims;
  const { bytes, gzip, fileSize } = await readPrefix(path, headerBytes);
  if (bytes.length < 4) throw new DataError(`${path}: truncated IDX header (file has ${bytes.length} bytes)`);
  const magic = bytes.readUInt32BE(0);
  if (magic !== expectedMagic) {
    throw new DataError(`${path}: wrong IDX magic number: expected ${hex(expectedMagic)}, found ${hex(magic)}`);
  }
  if (bytes.length < headerBytes) throw new DataError(`${path}: truncated IDX header`);
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) dims.push(bytes.readUInt32BE(4 + 4 * d));
  const count = dims[0];
  const itemBytes = dims.slice(1).reduce((a, b) => a * b, 1);
  if (itemBytes === 0) throw new DataError(`${path}: IDX header declares empty ${dims.slice(1).join('×')} items`);
  // A corrupt header can claim items of any size; refused before anything that size is allocated.
  checkInputDim(path, itemBytes, `values per item (${dims.slice(1).join('×')}) in the IDX header`);
  // A plain file's size must cover every declared item; checked up front because it is free.
  const declared = headerBytes + count * itemBytes;
  if (!gzip && fileSize < declared) {
    throw new DataError(
      `${path}: truncated: header declares ${count} items (${declared} bytes) but the file has ${fileSize} bytes`,
    );
  }
  return { path, count, itemBytes, headerBytes };
}

/** The first `count` items of an IDX file, as raw bytes. */
async function readIdxItems(header: IdxHeader, count: number): Promise<Uint8Array> {
  if (count > header.count) {
    throw new DataError(`sample_size ${count} exceeds the ${header.count} samples in ${header.path}`);
  }
  const want = header.headerBytes + count * header.itemBytes;
  const { bytes } = await readPrefix(header.path, want);
  if (bytes.length < want) {
    const complete = Math.max(0, Math.floor((bytes.length - header.headerBytes) / header.itemBytes));
    throw new DataError(
      `${header.path}: truncated: header declares ${header.count} items but the data end after ${complete}`,
    );
  }
  return bytes.subarray(header.headerBytes, want);
}

/**
 * The first `limit` image/label pairs of an IDX pair (MNIST layout), pixels mapped from 0..255 to [-1, 1].
 * Both headers are checked before any bulk data is read, and gzipped files are decompressed only as far
 * as needed.
 */
export async function loadIdxPair(imagesPath: string, labelsPath: string, limit: number): Promise<Dataset> {
  const [images, labels] = await bothOrImagesError(readIdxHeader(imagesPath, IDX_IMAGES_MAGIC), readIdxHeader(labelsPath, IDX_LABELS_MAGIC));
  if (images.count !== labels.count) {
    throw new DataError(
      `${imagesPath} has ${images.count} images but ${labelsPath} has ${labels.count} labels`,
    );
  }
  checkSampleMatrix(imagesPath, limit, images.itemBytes);
  const [pixels, labelBytes] = await bothOrImagesError(readIdxItems(images, limit), readIdxItems(labels, limit));
  const y = new Int32Array(limit);
  for (let i = 0; i < limit; i++) {
    if (labelBytes[i] >= IDX_CLASSES) {
      throw new DataError(`${labelsPath}: label ${labelBytes[i]} of item ${i} is out of range 0..${IDX_CLASSES - 1}`);
    }
    y[i] = labelBytes[i];
  }
  return {
    x: bytesToUnit(pixels),
    y,
    n: limit,
    dim: images.itemBytes,
    classes: IDX_CLASSES,
    source: `${imagesPath}, ${labelsPath}`,
  };
}

/** Pixel bytes 0..255 to floats p/127.5 − 1 in [-1, 1], through a lookup table. */
export function bytesToUnit(bytes: Uint8Array): Float32Array {
  const table = new Float32Array(256);
  for (let p = 0; p < 256; p++) table[p] = p / 127.5 - 1;
  const x = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) x[i] = table[bytes[i]];
  return x;
}

/** Opens a data file, turning a missing or unreadable file into a DataError that names it. */
export async function openData(path: string, what: string): Promise<FileHandle> {
  return open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw cannotRead(path, what, err);
  });
}

/** A whole data file, with the same errors as `openData`. */
export async function readData(path: string, what: string): Promise<Buffer> {
  return readFile(path).catch((err: NodeJS.ErrnoException) => {
    throw cannotRead(path, what, err);
  });
}

function cannotRead(path: string, what: string, err: NodeJS.ErrnoException): DataError {
  const reasons: Record<string, string> = {
    ENOENT: 'no such file',
    EACCES: 'permission denied',
    EISDIR: 'it is a directory',
  };
  return new DataError(`cannot read ${what} ${path}: ${reasons[err.code ?? ''] ?? err.message}`);
}

/**
 * Up to `want` leading bytes of the (decompressed) file; fewer only if the data end first. Gzip is
 * recognised by its magic bytes, and its stream is abandoned as soon as `want` bytes are out.
 */
async function readPrefix(path: string, want: number): Promise<{ bytes: Buffer; gzip: boolean; fileSize: number }> {
  const file = await openData(path, 'IDX file');
  try {
    const { size: fileSize } = await file.stat();
    const magic = Buffer.alloc(2);
    const { bytesRead } = await file.read(magic, 0, 2, 0);
    const gzip = bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
    if (!gzip) {
      const bytes = Buffer.alloc(want);
      const { bytesRead: got } = await file.read(bytes, 0, want, 0);
      return { bytes: bytes.subarray(0, got), gzip, fileSize };
    }
    return { bytes: await gunzipPrefix(file, path, want), gzip, fileSize };
  } finally {
    await file.close();
  }
}

async function gunzipPrefix(file: FileHandle, path: string, want: number): Promise<Buffer> {
  const bytes = Buffer.alloc(want);
  let filled = 0;
  const compressed = file.createReadStream({ start: 0, autoClose: false, highWaterMark: 1 << 20 });
  const gunzip = createGunzip({ chunkSize: 1 << 18 });
  compressed.on('error', (err) => gunzip.destroy(err));
  compressed.pipe(gunzip);
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      const n = Math.min(chunk.length, want - filled);
      chunk.copy(bytes, filled, 0, n);
      filled += n;
      if (filled === want) break;
    }
  } catch (err) {
    throw new DataError(`${path}: corrupt or truncated gzip data (${(err as Error).message})`);
  } finally {
    compressed.unpipe(gunzip);
    compressed.destroy();
    gunzip.destroy();
  }
  return bytes.subarray(0, filled);
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/** Both reads at once; when both fail, the images file's error wins, so messages do not depend on timing. */
async function bothOrImagesError<A, B>(images: Promise<A>, labels: Promise<B>): Promise<[A, B]> {
  const [a, b] = await Promise.allSettled([images, labels]);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return [a.value, b.value];
}
