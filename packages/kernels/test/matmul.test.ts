import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KernelError, loadKernels } from '../src/index.js';
import { randomMatrix } from './random.js';

// Float64 references, written as the textbook triple loops over row-major arrays.
function referenceProduct(a: Float32Array, b: Float32Array, m: number, inner: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let sum = 0;
    for (let p = 0; p < inner; p++) sum += a[i * inner + p]! * b[p * n + j]!;
    c[i * n + j] = sum;
  }
  return c;
}

function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j]!;
  return t;
}

// Summing `inner` float32 products errs by about √inner·ε·Σ|a·b|, and Σ|a·b| ≤ inner for entries in [-1, 1);
// 4× that leaves room without hiding a wrong index (which errs by O(1)).
function assertClose(actual: Float32Array, expected: Float64Array, inner: number, label: string): void {
  assert.equal(actual.length, expected.length);
  const tolerance = 4 * Math.sqrt(inner) * 2 ** -23 * inner;
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i]! - expected[i]!);
    assert.ok(error <= tolerance, `${label}: entry ${i} is ${actual[i]}, float64 gives ${expected[i]} (|error| ${error} > ${tolerance})`);
  }
}

// The network's shapes, plus sizes that leave row, 16-column and 4-column remainders.
const SHAPES: Array<[number, number, number]> = [
  [64, 784, 16], [64, 16, 16], [64, 16, 10], [1, 1, 1], [3, 5, 7], [5, 9, 17], [7, 33, 21], [13, 4, 36], [4, 16, 16],
];

for (const [m, k, n] of SHAPES) {
  test(`matMul, matMulTransposedA and matMulTransposedB agree with float64 triple loops for [${m}×${k}]·[${k}×${n}]`, async () => {
    const kernels = await loadKernels();
    const seed = m * 1_000_003 + k * 1009 + n;
    const xValues = randomMatrix(m * k, seed);
    const wValues = randomMatrix(k * n, seed + 1);
    const dyValues = randomMatrix(m * n, seed + 2);
    const x = kernels.allocate(m, k), w = kernels.allocate(k, n), dy = kernels.allocate(m, n);
    const y = kernels.allocate(m, n), dw = kernels.allocate(k, n), dx = kernels.allocate(m, k);
    x.write(xValues); w.write(wValues); dy.write(dyValues);

    kernels.matMul(x, w, y);
    kernels.matMulTransposedA(x, dy, dw);
    kernels.matMulTransposedB(dy, w, dx);

    assertClose(y.read(), referenceProduct(xValues, wValues, m, k, n), k, 'y = x·w');
    assertClose(dw.read(), referenceProduct(transpose(xValues, m, k), dyValues, k, m, n), m, 'dw = xᵀ·dy');
    assertClose(dx.read(), referenceProduct(dyValues, transpose(wValues, k, n), m, n, k), n, 'dx = dy·wᵀ');
  });
}

test('slots allocated after the memory grows keep earlier operands intact', async () => {
  const kernels = await loadKernels();
  const first = kernels.allocate(2, 3);
  const values = randomMatrix(6, 7);
  first.write(values);
  kernels.allocate(1024, 1024); // 4 MiB: forces several page grows and detaches the old buffer
  assert.deepEqual(first.read(), values);
});

test('mismatched shapes are a KernelError naming the product and shapes', async () => {
  const kernels = await loadKernels();
  const x = kernels.allocate(4, 3), w = kernels.allocate(2, 5), y = kernels.allocate(4, 5);
  assert.throws(() => kernels.matMul(x, w, y), (error: unknown) =>
    error instanceof KernelError && /matMul: shapes \[4×3\], \[2×5\] → \[4×5\] do not fit/.test(error.message));
  assert.throws(() => x.write(new Float32Array(5)), KernelError);
});
