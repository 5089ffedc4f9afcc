/** A measurement that comes out NaN or ±Infinity is a MeasurementError naming it, never an `ok` row or a report. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MEASURE, DEFAULT_TRAIN, type Cell } from '@hessweep/grid';
import { useBackend } from '../src/backend.js';
import { runCell, type CellOptions } from '../src/cell.js';
import { MeasurementError, requireFinite } from '../src/measurement.js';
import { parseProblem, spectrum } from '../src/problem.js';

const CONTEXT: CellOptions['context'] = { sweep: 't', worker: 'w', attempt: 1, backend: 'wasm' };

before(async () => {
  await useBackend('wasm');
});

function cell(overrides: Partial<Cell> = {}, train: Partial<Cell['train']> = {}): Cell {
  return {
    dataset: 'synthetic',
    width: 6,
    depth: 1,
    seed: 3,
    sample_size: 64,
    train: { ...DEFAULT_TRAIN, epochs: 3, batch_size: 16, ...train },
    measure: { ...DEFAULT_MEASURE, permutations: 5, top_k: 2, lanczos_iters: 10 },
    data: {},
    ...overrides,
  };
}

/** A MeasurementError whose message matches. */
function isMeasurementError(pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof MeasurementError, `expected a MeasurementError, got ${String(err)}`);
    assert.match(err.message, pattern);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  };
}

test('requireFinite names the first non-finite measurement and its index, and passes finite ones', () => {
  assert.doesNotThrow(() => requireFinite({ a: 1e308, b: [-1e308, 0], c: null, d: undefined, e: new Float64Array([5]) }, 'hint'));
  assert.throws(() => requireFinite({ a: 1, b: NaN, c: Infinity }, 'hint'), { name: 'MeasurementError', message: 'b is NaN (hint)' });
  assert.throws(() => requireFinite({ top: [3, 2, -Infinity, NaN] }, 'why'), { message: 'top[2] is -Infinity (why)' });
  assert.throws(() => requireFinite({ d: Float32Array.of(1, Infinity) }, 'h'), { message: 'd[1] is Infinity (h)' });
});

test('a diverging cell (lr 1e30) is a MeasurementError naming train_loss, not an ok row with NaN', async () => {
  const epochs: number[] = [];
  await assert.rejects(
    runCell(cell({}, { lr: 1e30 }), { context: CONTEXT, onEpoch: (epoch) => epochs.push(epoch) }),
    isMeasurementError(/^train_loss of epoch \d+ is (NaN|-?Infinity) \(training diverged: try a smaller lr\)$/),
  );
  // Training stops at the first non-finite epoch instead of running all of them.
  assert.ok(epochs.length < 3, `epochs reported: ${epochs.join(', ')}`);
  const row = await runCell(cell(), { context: CONTEXT });
  assert.equal(row.status, 'ok');
  assert.ok(Number.isFinite(row.train_loss));
});

test('inputs near the float32 limit that overflow the curvature are a MeasurementError naming the measurement', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hessweep-measure-'));
  try {
    // Finite float32 features of magnitude 1e30: the losses stay finite (float64 softmax) but squares overflow.
    const rows = Array.from({ length: 20 }, (_, i) => `${(i % 3) - 1}e30,${((i * 7) % 5) - 2}e30,${i % 2}`);
    const path = join(dir, 'huge.csv');
    await writeFile(path, `a,b,label\n${rows.join('\n')}\n`);
    await assert.rejects(
      runCell(cell({ dataset: 'features', sample_size: 20, data: { features_path: path } }, { lr: 1e-3 }), { context: CONTEXT }),
      isMeasurementError(/^(train_loss|losses|hessian_top|ggn_top|hessian_trace|m_w|m_x|bound|loss_diff|loss_diff_slope)(\[\d+\])? (of epoch \d+ )?is (NaN|-?Infinity) \(/),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('spectrum of a problem whose curvature overflows float32 is a MeasurementError, not NaN eigenvalues', () => {
  const w = 1e30;
  const problem = parseProblem(
    {
      layers: [
        [
          [w, -w, w / 2],
          [-w / 2, w, w],
        ],
        [
          [w, -w],
          [-w, w],
          [w / 3, w],
        ],
      ],
      x: [
        [1, 2],
        [3, -1],
        [0.5, 0.25],
      ],
      y: [0, 1, 1],
      classes: 2,
    },
    'p.json',
  );
  assert.throws(() => spectrum(problem, { topK: 3 }), isMeasurementError(/^(hessian_top|ggn_top|hessian_trace|ggn_trace|hessian_residuals|ggn_residuals)(\[\d+\])? is (NaN|-?Infinity) \(/));
  assert.throws(() => spectrum(problem, { topK: 3, dense: true }), MeasurementError);
});
