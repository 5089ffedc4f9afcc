// Rows with the stabilization columns of result schema 3, their values known in closed form per cell, for the
// aggregate, summary and report tests of the stabilization criteria.
import { writeFileSync } from 'node:fs';
import { RecordBatch, Schema, Table, tableToIPC } from 'apache-arrow';
import type { ResultRow } from '@hessweep/grid';
import { toTable } from '@hessweep/results';

export const STAB_K = [10, 20, 40, 80, 160, 320, 640];
/** The indexes of STAB_K in the tail, k ≥ 640/10. */
export const TAIL = [3, 4, 5, 6];
export const SIGMA = [0.01, 0.1];
export const THRESHOLDS = [1e-3, 1e-4];

/** Δ2 in the subspace of cell (width, depth, seed) at σ index s and k index i: a·(1 + s)·10⁻²·(1 + 0.05 i)/k². */
export const subAt = (width: number, depth: number, seed: number, s: number, i: number): number =>
  ((1 + width / 8) * (1 + 0.3 * seed) * (1 + depth / 4) * (1 + s) * 1e-2 * (1 + 0.05 * i)) / STAB_K[i]! ** 2;
/** Isotropic Δ2 over Δ2 in the subspace at k index i. */
export const isoFactor = (seed: number, i: number): number => 2 + 0.1 * seed + 0.01 * i;
/** Gaussian moment over direct Monte Carlo at σ index s: constant in k. */
export const gmFactor = (seed: number, s: number): number => 1 + SIGMA[s]! * (1 + seed);

/** n_suff_d1 per threshold: reached (null: not), extrapolated (null: not, or reached). */
export const d1Of = (width: number, seed: number) => ({ reached: [20 * width + seed, null], fit: [null, seed === 2 ? null : 1000 * width * (1 + seed)] });
/** n_suff_d2, σ-major per σ × threshold: σ 0 reaches ε 0, extrapolates ε 1; σ 1 reaches ε 0, never ε 1. */
export const d2Of = (width: number, depth: number, seed: number) => ({
  reached: [30 * width + 2 * seed, null, 50 * depth + seed, null],
  fit: [null, 2000 * (1 + seed), null, null],
});

/**
 * The stabilization columns of cell (width, depth, seed), with `order` the order its σ are stored in (a cell may
 * list them differently from the group's first cell).
 */
export function stabColumns(width: number, depth: number, seed: number, order: readonly number[] = [0, 1]): Partial<ResultRow> {
  const perSigma = (f: (s: number, i: number) => number) => order.flatMap((s) => STAB_K.map((_, i) => f(s, i)));
  const d1 = d1Of(width, seed);
  const d2 = d2Of(width, depth, seed);
  const d2In = (values: (number | null)[]) => order.flatMap((s) => [values[2 * s]!, values[2 * s + 1]!]);
  return {
    loss_diff_k: [...STAB_K],
    loss_diff: STAB_K.map((k) => (1 + seed / 10) / k),
    loss_diff_smooth: STAB_K.map((k, i) => (1.5 + seed / 10 + i / 100) / k),
    stab_subspace: 4,
    stab_sigma: order.map((s) => SIGMA[s]!),
    delta2_sub: perSigma((s, i) => subAt(width, depth, seed, s, i)),
    delta2_iso: perSigma((s, i) => subAt(width, depth, seed, s, i) * isoFactor(seed, i)),
    delta2_sub_quad: perSigma((s, i) => subAt(width, depth, seed, s, i) * 1.01),
    delta2_sub_gm: perSigma((s, i) => subAt(width, depth, seed, s, i) * gmFactor(seed, s)),
    stab_thresholds: [...THRESHOLDS],
    n_suff_d1: d1.reached,
    n_suff_d1_fit: d1.fit,
    n_suff_d2: d2In(d2.reached),
    n_suff_d2_fit: d2In(d2.fit),
    stabilization_s: 0.3,
  };
}

/** The columns result schema 3 added: a version-2 part lacks them. */
const VERSION_3_COLUMNS = [
  'loss_diff_smooth', 'stab_subspace', 'stab_sigma', 'delta2_iso', 'delta2_sub', 'delta2_sub_quad', 'delta2_sub_gm', 'stab_thresholds',
  'n_suff_d1', 'n_suff_d1_fit', 'n_suff_d2', 'n_suff_d2_fit', 'stabilization_s',
];

/** Writes `rows` as a part of result schema version 2 (before issue 11): no version-3 column, no checksum. */
export function writeVersion2Part(path: string, rows: readonly ResultRow[], meta: { sweep: string; specHash: string; version: string }): void {
  const full = toTable(rows, meta);
  const kept = full.select(full.schema.fields.map((f) => f.name).filter((name) => !VERSION_3_COLUMNS.includes(name)));
  const schema = new Schema(kept.schema.fields, new Map([
    ['hessweep.version', '0.2.0'], ['hessweep.sweep', meta.sweep], ['hessweep.spec_hash', meta.specHash], ['hessweep.schema_version', '2'],
  ]));
  writeFileSync(path, tableToIPC(new Table(schema, kept.batches.map((b) => new RecordBatch(schema, b.data))), 'file'));
}
