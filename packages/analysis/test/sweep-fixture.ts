// A small sweep on disk with known values, for the aggregate, summary, export and interop tests.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResultRow } from '@hessweep/grid';
import { writeResultFile } from '@hessweep/results';

export const META = { sweep: 'fixture', specHash: 'fixture0000000000', version: '0.1.0' };
export const WIDTHS = [4, 8] as const;
export const SEEDS = [0, 1, 2] as const;
export const K = [1, 2, 4, 8];

export const cellIdOf = (width: number, seed: number): string => `w${width}s${seed}`.padEnd(16, '0');

const STAGES = { load_s: 0.1, train_s: 1, losses_s: 0.1, curve_s: 0.2, hessian_s: 0.5, ggn_s: 0.4, trace_s: 0.1, density_s: 0.1, stabilization_s: 0, bound_s: 0.01, total_s: 2.51 };

/** When the row of cell (width, seed) was written: a distinct instant per cell. */
export const finishedAtOf = (width: number, seed: number): string => new Date(Date.UTC(2024, 4, 1, 12, width, seed, 123)).toISOString();

/** Deterministic measurements of the ok cell (width, seed). */
export function okRow(width: number, seed: number, over: Partial<ResultRow> = {}): ResultRow {
  const lambda = width * 10 + seed * 1.5 + (seed === 2 ? 0.25 : 0);
  const curveScale = 1 + 0.1 * seed + width / 100;
  return {
    ...STAGES,
    cell_id: cellIdOf(width, seed), sweep: 'fixture', status: 'ok', error: null, dataset: 'synthetic',
    width, depth: 2, seed, sample_size: 100, epochs: 10, batch_size: 64, optimizer: 'adam', lr: 1e-3, bias: false,
    init: 'uniform', permutations: 10, n_params: width * 50,
    train_loss: 0.5 / width + seed * 0.01, train_accuracy: 0.8 + width / 100 - seed * 0.02,
    loss_diff_k: [...K], loss_diff: K.map((k) => curveScale / k),
    loss_diff_slope: -1 + seed * 0.05 - width * 0.001,
    hessian_top: [lambda, lambda / 2, lambda / 4], hessian_residuals: [1e-9, 1e-9, 1e-9], hessian_iters: 10,
    ggn_top: [lambda * 0.9, lambda / 3], ggn_residuals: [1e-9, 1e-9], ggn_iters: 10,
    hessian_trace: lambda * 3 + seed, ggn_trace: lambda * 3, hessian_trace_hutchinson: null, hessian_trace_se: null,
    density_x: [-1, 0, 1], density_y: [0.2, 0.6, 0.2], bound: lambda * (20 + seed), m_w: 2 + seed * 0.1, m_x: 28,
    loss_diff_smooth: null, stab_subspace: null, stab_sigma: null, delta2_iso: null, delta2_sub: null, delta2_sub_quad: null, delta2_sub_gm: null,
    stab_thresholds: null, n_suff_d1: null, n_suff_d1_fit: null, n_suff_d2: null, n_suff_d2_fit: null,
    backend: 'cpu', worker: 'test/0', attempt: 1, finished_at: finishedAtOf(width, seed),
    ...over,
  };
}

export function failedRow(width: number, seed: number, error: string): ResultRow {
  return {
    ...okRow(width, seed), status: 'failed', error,
    n_params: null, train_loss: null, train_accuracy: null, loss_diff_k: null, loss_diff: null, loss_diff_slope: null,
    hessian_top: null, hessian_residuals: null, hessian_iters: null, ggn_top: null, ggn_residuals: null, ggn_iters: null,
    hessian_trace: null, ggn_trace: null, hessian_trace_hutchinson: null, hessian_trace_se: null,
    density_x: null, density_y: null, bound: null, m_w: null, m_x: null,
  };
}

/**
 * The fixture sweep: widths 4 and 8 × seeds 0..2 of one configuration, written as three part files.
 * - part-000: every cell; (4, 1) failed ('boom, "quoted"'), (8, 2) failed ('out of memory').
 *   (8, 1) has another k grid, [1, 2, 3, 8] (its k=3 point must be ignored, k=4 then has one value),
 *   and no GGN spectrum (ggn_top null).
 * - part-001: (4, 1) ok: failed then ok, so it counts as ok.
 * - part-002: (4, 0) failed again after its ok row: the ok row stands.
 * Expected: width 4 has 3 ok, 0 failed; width 8 has 2 ok, 1 failed; 6 distinct cells.
 */
export const EXPECTED_OK: Record<number, number[]> = { 4: [0, 1, 2], 8: [0, 1] };

export function expectedRow(width: number, seed: number): ResultRow {
  if (width === 8 && seed === 1) {
    const row = okRow(8, 1);
    return { ...row, ggn_top: null, loss_diff_k: [1, 2, 3, 8], loss_diff: [row.loss_diff![0]!, row.loss_diff![1]!, 0.123, row.loss_diff![3]!] };
  }
  return okRow(width, seed);
}

export async function writeFixtureSweep(): Promise<{ dir: string; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'hessweep-analysis-'));
  const parts = join(dir, 'parts');
  mkdirSync(parts);
  const first: ResultRow[] = [];
  for (const width of WIDTHS) {
    for (const seed of SEEDS) {
      if (width === 4 && seed === 1) first.push(failedRow(4, 1, 'boom, "quoted"\nsecond line'));
      else if (width === 8 && seed === 2) first.push(failedRow(8, 2, 'out of memory'));
      else first.push(expectedRow(width, seed));
    }
  }
  await writeResultFile(join(parts, 'part-000.arrow'), first, META);
  await writeResultFile(join(parts, 'part-001.arrow'), [okRow(4, 1, { attempt: 2 })], META);
  await writeResultFile(join(parts, 'part-002.arrow'), [failedRow(4, 0, 'late duplicate failure')], META);
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
