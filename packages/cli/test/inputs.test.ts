/**
 * The real binary on inputs past the limits (exit 2, one line naming the field), on computations that come out
 * NaN or infinite (exit 1, one line; a failed row in a sweep), and without tfjs's "install our node backend" banner.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { LIMITS } from '@hessweep/grid';
import { hessweep, partRows, syntheticSpec, type Result } from './support.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hessweep-inputs-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function put(name: string, contents: string | Uint8Array): Promise<string> {
  const path = join(dir, name);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, contents);
  return path;
}

/** stderr is exactly one `hessweep: …` line, with no stack frame, and holds every fragment. */
function assertOneLine(r: Result, code: number, ...fragments: string[]): void {
  const context = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.code, code, context);
  assert.ok(!r.stderr.includes('    at '), `stack trace on stderr\n${context}`);
  assert.match(r.stderr, /^hessweep: [^\n]+\n$/, context);
  for (const fragment of fragments) assert.ok(r.stderr.includes(fragment), `stderr lacks '${fragment}'\n${context}`);
}

const CELL = ['cell', '--width', '4', '--depth', '1', '--epochs', '2', '--quiet', '--backend', 'cpu'];
const BANNER = /looks like you are running TensorFlow\.js|install our node backend/i;

/** A problem for `hessweep spectrum`: a 2 → 3 → 2 network on three samples, weights scaled by `w`. */
function problem(w: number): { layers: number[][][]; x: number[][]; y: number[]; classes: number } {
  return {
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
  };
}

describe('bad data and problem files exit 2 with one line naming the field', { concurrency: 4 }, () => {
  test('a features label of 1e8', async () => {
    const path = await put('labels.csv', 'a,label\n0.5,100000000\n1,0\n');
    const r = await hessweep([...CELL, '--dataset', 'features', '--features', path, '--sample-size', '2'], dir);
    assertOneLine(r, 2, path, "label '100000000'", 'row 1 (line 2)', `[0, ${LIMITS.classes})`);
  });

  test('a features value beyond float32', async () => {
    const path = await put('values.csv', 'a,b,label\n1,2,0\n3,-1e39,1\n');
    const r = await hessweep([...CELL, '--dataset', 'features', '--features', path, '--sample-size', '2'], dir);
    assertOneLine(r, 2, path, "row 2 (line 3), column 'b': -1e39 is beyond the float32 range (±3.4e38)");
  });

  test('an IDX header claiming 1e6 × 1e6 images', async () => {
    const header = (dims: number[]) => {
      const bytes = Buffer.alloc(4 + 4 * dims.length);
      bytes.writeUInt32BE(0x800 + dims.length, 0);
      dims.forEach((d, i) => bytes.writeUInt32BE(d, 4 + 4 * i));
      return bytes;
    };
    const images = await put('idx/train-images-idx3-ubyte.gz', gzipSync(Buffer.concat([header([100, 1e6, 1e6]), Buffer.alloc(100)])));
    await put('idx/train-labels-idx1-ubyte', Buffer.concat([header([100]), Buffer.alloc(100)]));
    const r = await hessweep([...CELL, '--dataset', 'mnist', '--data-dir', join(dir, 'idx'), '--sample-size', '10'], dir);
    assertOneLine(r, 2, images, '1000000×1000000', `at most ${LIMITS.input_dim}`);
  });

  test('a problem weight of 1e39', async () => {
    const p = problem(1);
    p.layers[0][1][2] = 1e39;
    const path = await put('weight.json', JSON.stringify(p));
    const r = await hessweep(['spectrum', '--problem', path, '--backend', 'cpu'], dir);
    assertOneLine(r, 2, path, 'layers[0][1][2]: 1e+39 is beyond the float32 range (±3.4e38)');
  });

  test('a problem with more classes than LIMITS.classes', async () => {
    const classes = LIMITS.classes + 1;
    const path = await put('classes.json', JSON.stringify({ layers: [[Array.from({ length: classes }, () => 0)]], x: [[1]], y: [0], classes }));
    const r = await hessweep(['spectrum', '--problem', path, '--backend', 'cpu'], dir);
    assertOneLine(r, 2, path, '"classes"', `[2, ${LIMITS.classes}]`);
  });
});

describe('results that are not finite exit 1 with one line', { concurrency: 3 }, () => {
  test('hessweep cell with a diverging lr', async () => {
    const r = await hessweep([...CELL, '--dataset', 'synthetic', '--sample-size', '64', '--lr', '1e30', '--json'], dir);
    assertOneLine(r, 1, 'train_loss of epoch ', ' is NaN (training diverged: try a smaller lr)');
    assert.equal(r.stdout, '');
  });

  test('hessweep spectrum whose curvature overflows float32', async () => {
    const path = await put('overflow.json', JSON.stringify(problem(1e30)));
    const r = await hessweep(['spectrum', '--problem', path, '--backend', 'cpu', '--json'], dir);
    assertOneLine(r, 1, 'hessian_top[0] is NaN', 'overflow float32');
    assert.equal(r.stdout, '');
  });

  test('a sweep records the diverging cells as failed rows with the error, and exits 1', async () => {
    const spec = syntheticSpec('diverge', [4], [0, 1], { extra: 'backend: cpu\n' }).replace('train:\n', 'train:\n  lr: 1.0e30\n');
    await put('diverge/diverge.yaml', spec);
    const r = await hessweep(['run', 'diverge.yaml', '--out', 'out', '--concurrency', '2', '--max-attempts', '1', '--quiet'], join(dir, 'diverge'));
    assert.equal(r.code, 1, r.stderr);
    const rows = await partRows(join(dir, 'diverge/out/diverge'));
    assert.equal(rows.length, 2);
    for (const row of rows) {
      assert.equal(row.status, 'failed');
      assert.match(String(row.error), /MeasurementError: train_loss of epoch \d+ is NaN \(training diverged: try a smaller lr\)/);
      assert.equal(row.train_loss, null);
    }
  });
});

describe("no tfjs banner suggesting the node backend", { concurrency: 4 }, () => {
  async function assertNoBanner(args: string[], cwd = dir): Promise<void> {
    const r = await hessweep(args, cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, BANNER);
    assert.doesNotMatch(r.stderr, BANNER);
  }

  test('cell on the cpu backend', () => assertNoBanner([...CELL.filter((a) => a !== '--quiet'), '--dataset', 'synthetic', '--sample-size', '100']));
  test('doctor', () => assertNoBanner(['doctor']));
  test('spectrum on the cpu backend', async () => {
    const path = await put('fine.json', JSON.stringify(problem(1)));
    await assertNoBanner(['spectrum', '--problem', path, '--backend', 'cpu']);
  });
  test('run of a small spec on the cpu backend', async () => {
    await put('banner/s.yaml', syntheticSpec('banner', [4], [0], { extra: 'backend: cpu\n' }));
    await assertNoBanner(['run', 's.yaml', '--out', 'out', '--concurrency', '1'], join(dir, 'banner'));
  });
});
