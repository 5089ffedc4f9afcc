import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesToUnit, openData } from './idx.js';
import { checkSampleMatrix } from './limits.js';
import { DataError, type Dataset } from './types.js';

/** 32×32 pixels × 3 channels, stored channel by channel (all red, then green, then blue); kept in that order. */
const PIXELS = 3072;

interface RecordFormat {
  name: string;
  /** Bytes before the pixels; the label used is the last of them (CIFAR-100: coarse, then fine). */
  labelBytes: number;
  classes: number;
  files: string[];
  /** The directory the archive unpacks to, accepted below `data_dir`. */
  subdir: string;
}

const CIFAR10: RecordFormat = {
  name: 'CIFAR-10',
  labelBytes: 1,
  classes: 10,
  files: [1, 2, 3, 4, 5].map((b) => `data_batch_${b}.bin`),
  subdir: 'cifar-10-batches-bin',
};

const CIFAR100: RecordFormat = {
  name: 'CIFAR-100',
  labelBytes: 2,
  classes: 100,
  files: ['train.bin'],
  subdir: 'cifar-100-binary',
};

/** The first `sampleSize` training images of CIFAR-10 from its binary batches in `dataDir`. */
export function loadCifar10(dataDir: string, sampleSize: number): Promise<Dataset> {
  return loadRecords(CIFAR10, dataDir, sampleSize);
}

/** The first `sampleSize` training images of CIFAR-100 (fine labels, 100 classes) from `train.bin` in `dataDir`. */
export function loadCifar100(dataDir: string, sampleSize: number): Promise<Dataset> {
  return loadRecords(CIFAR100, dataDir, sampleSize);
}

/** Reads records batch by batch, opening only the batches that the sample needs. */
async function loadRecords(format: RecordFormat, dataDir: string, sampleSize: number): Promise<Dataset> {
  const dir = await findDir(format, dataDir);
  checkSampleMatrix(`${format.name} in ${dir}`, sampleSize, PIXELS);
  const recordBytes = format.labelBytes + PIXELS;
  const pixels = new Uint8Array(sampleSize * PIXELS);
  const y = new Int32Array(sampleSize);
  const used: string[] = [];
  let filled = 0;
  for (const name of format.files) {
    if (filled === sampleSize) break;
    const path = join(dir, name);
    used.push(path);
    const file = await openData(path, `${format.name} batch`);
    try {
      const { size } = await file.stat();
      if (size === 0 || size % recordBytes !== 0) {
        throw new DataError(
          `${path}: truncated or not a ${format.name} batch: ${size} bytes is not a whole number of ${recordBytes}-byte records`,
        );
      }
      const take = Math.min(size / recordBytes, sampleSize - filled);
      const records = Buffer.alloc(take * recordBytes);
      await file.read(records, 0, records.length, 0);
      for (let r = 0; r < take; r++) {
        const at = r * recordBytes;
        const label = records[at + format.labelBytes - 1];
        if (label >= format.classes) {
          throw new DataError(`${path}: label ${label} of record ${r} is out of range 0..${format.classes - 1}`);
        }
        y[filled] = label;
        pixels.set(records.subarray(at + format.labelBytes, at + recordBytes), filled * PIXELS);
        filled++;
      }
    } finally {
      await file.close();
    }
  }
  if (filled < sampleSize) {
    throw new DataError(`sample_size ${sampleSize} exceeds the ${filled} samples in ${used.join(', ')}`);
  }
  return { x: bytesToUnit(pixels), y, n: sampleSize, dim: PIXELS, classes: format.classes, source: used.join(', ') };
}

/** `dataDir` itself, or the directory the official archive unpacks to inside it. */
async function findDir(format: RecordFormat, dataDir: string): Promise<string> {
  for (const dir of [dataDir, join(dataDir, format.subdir)]) {
    try {
      await access(join(dir, format.files[0]));
      return dir;
    } catch {
      // try the archive's directory
    }
  }
  throw new DataError(
    `missing ${format.name} data: no ${format.files[0]} in ${dataDir} or ${join(dataDir, format.subdir)}`,
  );
}
