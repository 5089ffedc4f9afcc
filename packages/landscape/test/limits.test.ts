/**
 * Data and problem files past the bounds of grid's LIMITS are refused up front, with a DataError that names the
 * file and the field, before anything their (claimed) size is allocated; values at the bounds still load.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { FLOAT32_MAX, LIMITS } from '@hessweep/grid';
import { DataError, loadCifar10, loadDataset, loadFeatures, loadIdxPair } from '../src/data/index.js';
import { parseProblem } from '../src/problem.js';
import { tempFiles } from './helpers.js';

const files = tempFiles('hessweep-limits-');
const put = files.put;

/** A DataError whose message holds every fragment. */
function isDataError(...fragments: string[]): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof DataError, `expected a DataError, got ${String(err)}`);
    for (const fragment of fragments) assert.ok(err.message.includes(fragment), `'${err.message}' lacks '${fragment}'`);
    return true;
  };
}

/** An IDX header of unsigned bytes (magic 0x0000080<ndims>, big-endian dimensions) followed by `data`. */
function idx(dims: number[], data: Uint8Array = new Uint8Array(0)): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(0x800 + dims.length, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

const BEYOND = 'is beyond the float32 range (±3.4e38)';

describe('features files', () => {
  test('a label must be an integer below LIMITS.classes: 1e8 is refused, LIMITS.classes − 1 loads', async () => {
    const huge = await put('labels/huge.csv', 'a,label\n1,0\n2,100000000\n');
    await assert.rejects(loadFeatures(huge, 1), isDataError(huge, "label '100000000'", 'row 2 (line 3)', `[0, ${LIMITS.classes})`));
    const atLimit = await put('labels/limit.csv', `a,label\n1,${LIMITS.classes}\n`);
    await assert.rejects(loadFeatures(atLimit, 1), isDataError(atLimit, `label '${LIMITS.classes}'`, 'row 1'));
    const arrow = await put('labels/huge.arrow', tableToIPC(tableFromArrays({ a: Float64Array.from([1, 2]), label: Int32Array.from([0, 5000]) })));
    await assert.rejects(loadFeatures(arrow, 1), isDataError(arrow, "label '5000'", 'row 2'));

    const largest = await put('labels/largest.csv', `a,label\n1,${LIMITS.classes - 1}\n2,0\n`);
    const data = await loadFeatures(largest, 2);
    assert.equal(data.classes, LIMITS.classes);
    assert.deepEqual([...data.y], [LIMITS.classes - 1, 0]);
  });

  test('a value beyond float32 is refused naming row and column; ±FLOAT32_MAX loads as itself', async () => {
    const csv = await put('values/big.csv', 'a,b,label\n1,2,0\n3,1e39,1\n');
    await assert.rejects(loadFeatures(csv, 1), isDataError(csv, "row 2 (line 3), column 'b'", `1e39 ${BEYOND}`));
    const negative = await put('values/neg.csv', 'label,a\n0,-3.5e38\n');
    await assert.rejects(loadFeatures(negative, 1), isDataError(negative, "row 1 (line 2), column 'a'", `-3.5e38 ${BEYOND}`));
    const arrow = await put('values/big.arrow', tableToIPC(tableFromArrays({ f: Float64Array.from([0, 0, -1e300]), label: Int32Array.from([0, 1, 0]) })));
    await assert.rejects(loadFeatures(arrow, 1), isDataError(arrow, "row 3, column 'f'", `-1e+300 ${BEYOND}`));

    const edge = await put('values/edge.csv', `a,label\n${FLOAT32_MAX},0\n${-FLOAT32_MAX},1\n`);
    const data = await loadFeatures(edge, 2);
    assert.deepEqual([...data.x], [Math.fround(FLOAT32_MAX), -Math.fround(FLOAT32_MAX)]);
    assert.ok(data.x.every(Number.isFinite));
  });

  test('more feature columns than LIMITS.input_dim are refused before the rows are read', async () => {
    const columns = LIMITS.input_dim + 1;
    const header = Array.from({ length: columns }, (_, j) => `c${j}`).join(',');
    const wide = await put('wide.csv', `${header},label\n0\n`);
    await assert.rejects(loadFeatures(wide, 1), isDataError(wide, `${columns} feature columns`, `at most ${LIMITS.input_dim}`));
  });
});

describe('IDX headers', () => {
  const labels10 = () => idx([10], Uint8Array.from({ length: 10 }, (_, i) => i % 10));

  test('1e6 × 1e6 images are refused naming the file, plain or gzipped', async () => {
    for (const gzip of [false, true]) {
      const raw = idx([10, 1_000_000, 1_000_000], new Uint8Array(64));
      const images = await put(`huge-items/${gzip}/images`, gzip ? gzipSync(raw) : raw);
      const labels = await put(`huge-items/${gzip}/labels`, labels10());
      await assert.rejects(loadIdxPair(images, labels, 2), isDataError(images, '1000000×1000000', `at most ${LIMITS.input_dim}`));
    }
  });

  test('a header claiming 1e9 items is refused when the data are not there, plain or gzipped', async () => {
    const pixels = new Uint8Array(10 * 4);
    const labelBytes = Uint8Array.from({ length: 10 }, (_, i) => i % 10);
    const plainImages = await put('billion/plain/images', idx([1e9, 2, 2], pixels));
    const plainLabels = await put('billion/plain/labels', idx([1e9], labelBytes));
    await assert.rejects(loadIdxPair(plainImages, plainLabels, 5), isDataError(plainImages, 'truncated', '1000000000 items'));

    const gzImages = await put('billion/gz/images', gzipSync(idx([1e9, 2, 2], pixels)));
    const gzLabels = await put('billion/gz/labels', gzipSync(idx([1e9], labelBytes)));
    // Only what the sample needs is read: the first 10 items are there, the 11th is not.
    assert.equal((await loadIdxPair(gzImages, gzLabels, 10)).n, 10);
    await assert.rejects(loadIdxPair(gzImages, gzLabels, 11), isDataError(gzImages, 'truncated', 'after 10'));
  });

  test('a sample larger than LIMITS.batch_floats floats is refused before it is read', async () => {
    const side = 28;
    const sample = Math.floor(LIMITS.batch_floats / (side * side)) + 1;
    const images = await put('batch/images', gzipSync(idx([1e9, side, side], new Uint8Array(side * side))));
    const labels = await put('batch/labels', gzipSync(idx([1e9], new Uint8Array(1))));
    await assert.rejects(loadIdxPair(images, labels, sample), isDataError(images, `${sample} samples × ${side * side} features`, `${LIMITS.batch_floats}`));
  });
});

describe('other datasets', () => {
  test('CIFAR: a sample larger than LIMITS.batch_floats floats is refused before it is allocated', async () => {
    const cifar = join(files.dir, 'cifar');
    await put('cifar/data_batch_1.bin', new Uint8Array(1 + 3072));
    const sample = Math.floor(LIMITS.batch_floats / 3072) + 1;
    await assert.rejects(loadCifar10(cifar, sample), isDataError(cifar, `${sample} samples × 3072 features`));
  });

  test('synthetic: dim, classes and the sample matrix within LIMITS', async () => {
    await assert.rejects(loadDataset('synthetic', { synthetic_dim: LIMITS.input_dim + 1 }, 10), RangeError);
    await assert.rejects(loadDataset('synthetic', { synthetic_classes: LIMITS.classes + 1 }, 10), RangeError);
    const n = Math.floor(LIMITS.batch_floats / LIMITS.input_dim) + 1;
    await assert.rejects(
      loadDataset('synthetic', { synthetic_dim: LIMITS.input_dim }, n),
      isDataError('synthetic blobs', `${n} samples × ${LIMITS.input_dim} features`),
    );
    const widest = await loadDataset('synthetic', { synthetic_dim: 3, synthetic_classes: LIMITS.classes }, 5);
    assert.equal(widest.classes, LIMITS.classes);
  });
});

describe('problem files', () => {
  const problem = (overrides: Record<string, unknown> = {}) => ({
    layers: [
      [
        [1, 0, -1],
        [0.5, 2, 0],
      ],
      [
        [1, 0],
        [0, 1],
        [1, 1],
      ],
    ],
    x: [
      [1, 2],
      [-1, 0.5],
    ],
    y: [0, 1],
    classes: 2,
    ...overrides,
  });

  test('a weight or input beyond float32 is refused naming the field', () => {
    const big = problem();
    (big.layers as number[][][])[1][2][1] = 1e39;
    assert.throws(() => parseProblem(big, 'p.json'), isDataError('p.json', `layers[1][2][1]: 1e+39 ${BEYOND}`));
    const input = problem({ x: [[1, 2], [-4e38, 0]] });
    assert.throws(() => parseProblem(input, 'p.json'), isDataError('p.json', `x[1][0]: -4e+38 ${BEYOND}`));

    const edge = parseProblem(problem({ x: [[FLOAT32_MAX, 0], [0, -FLOAT32_MAX]] }), 'p.json');
    assert.deepEqual([...edge.x], [Math.fround(FLOAT32_MAX), 0, 0, -Math.fround(FLOAT32_MAX)]);
  });

  test('classes above LIMITS.classes are refused', () => {
    const classes = LIMITS.classes + 1;
    const wide = { layers: [[Array.from({ length: classes }, () => 0)]], x: [[1]], y: [0], classes };
    assert.throws(() => parseProblem(wide, 'p.json'), isDataError('p.json', '"classes"', `[2, ${LIMITS.classes}]`, String(classes)));
  });
});
