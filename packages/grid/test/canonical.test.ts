import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { canonicalJson, cellId, DEFAULT_MEASURE, DEFAULT_TRAIN, type Cell } from '../src/index.js';

const base: Cell = {
  dataset: 'mnist', width: 16, depth: 5, seed: 0, sample_size: 1000,
  train: { ...DEFAULT_TRAIN }, measure: { ...DEFAULT_MEASURE }, data: {},
};

test('canonical JSON sorts keys at every depth and drops undefined', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } }), '{"a":{"d":[3,{"y":2,"z":1}]},"b":1}');
  assert.equal(canonicalJson({ x: 1, y: 2 }), canonicalJson({ y: 2, x: 1 }));
});

test('canonical JSON refuses non-finite numbers', () => {
  assert.throws(() => canonicalJson({ a: Number.NaN }), /non-finite/);
});

test('cell id is stable under key order and ignores the data directory', () => {
  const reordered = JSON.parse(JSON.stringify({ measure: base.measure, train: base.train, seed: 0, depth: 5, width: 16, sample_size: 1000, dataset: 'mnist', data: {} }));
  assert.equal(cellId(reordered as Cell), cellId(base));
  assert.equal(cellId({ ...base, data: { data_dir: '/elsewhere' } }), cellId(base));
  assert.match(cellId(base), /^[0-9a-f]{16}$/);
});

test('cell id: the first 16 hex digits of SHA-256 over the canonical JSON of the identity, written out by hand here', () => {
  const identity =
    '{"data":{},"dataset":"mnist","depth":5,"measure":{"curve_points":64,"density":true,"density_runs":3,"density_steps":8,"ggn":true,"lanczos_iters":30,"lanczos_tol":0.0001,' +
    '"permutations":100,"stabilization":{"isotropic":true,"samples":4,"sigma":[0.001,0.01],"subspace":5},"thresholds":[0.001,0.0001],' +
    '"top_k":5,"trace_probes":0},"sample_size":1000,"seed":0,"train":{"batch_size":64,"bias":false,"epochs":10,' +
    '"init":"uniform","lr":0.001,"optimizer":"adam"},"width":16}';
  assert.equal(cellId(base), createHash('sha256').update(identity).digest('hex').slice(0, 16));
});

test('cell id changes with anything that changes the result', () => {
  const ids = new Set([
    cellId(base),
    cellId({ ...base, seed: 1 }),
    cellId({ ...base, width: 32 }),
    cellId({ ...base, depth: 4 }),
    cellId({ ...base, sample_size: 999 }),
    cellId({ ...base, dataset: 'fashion_mnist' }),
    cellId({ ...base, train: { ...base.train, lr: 1e-2 } }),
    cellId({ ...base, measure: { ...base.measure, permutations: 10 } }),
    cellId({ ...base, data: { features_path: 'f.csv' } }),
  ]);
  assert.equal(ids.size, 9);
});
