/** What the store and compaction tests share: result rows, temp directories, version-1 parts, a seeded source. */
import { after } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordBatch, Schema, Table, tableToIPC, Utf8, vectorFromArray } from 'apache-arrow';
import type { ResultRow } from '@hessweep/grid';
import { toTable } from '../src/index.js';

export const meta = { sweep: 's', specHash: 'a'.repeat(64), version: '0.2.0' };

const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A temp directory, removed when the test file ends. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hessweep-store-'));
  dirs.push(dir);
  return dir;
}

/** A row of cell `id` with `status`; the rest is filler of the right types. */
export function row(id: string, status: 'ok' | 'failed', over: Partial<ResultRow> = {}): ResultRow {
  const stage = { load_s: 0, train_s: 0, losses_s: 0, curve_s: 0, hessian_s: 0, ggn_s: 0, trace_s: 0, density_s: 0, stabilization_s: 0, bound_s: 0, total_s: 1 };
  return {
    ...stage, cell_id: id, sweep: 's', status, error: status === 'ok' ? null : `error of ${id}`, dataset: 'synthetic', width: 4, depth: 1, seed: 0,
    sample_size: 10, epochs: 1, batch_size: 64, optimizer: 'adam', lr: 1e-3, bias: false, init: 'uniform', permutations: 1,
    n_params: null, train_loss: null, train_accuracy: null, loss_diff_k: null, loss_diff: null, loss_diff_slope: null, hessian_top: null,
    hessian_residuals: null, hessian_iters: null, ggn_top: null, ggn_residuals: null, ggn_iters: null, hessian_trace: null, ggn_trace: null,
    hessian_trace_hutchinson: null, hessian_trace_se: null, density_x: null, density_y: null, bound: null, m_w: null, m_x: null,
    loss_diff_smooth: null, stab_subspace: null, stab_sigma: null, delta2_iso: null, delta2_sub: null, delta2_sub_quad: null, delta2_sub_gm: null,
    stab_thresholds: null, n_suff_d1: null, n_suff_d1_fit: null, n_suff_d2: null, n_suff_d2_fit: null,
    backend: 'none', worker: 'w', attempt: 1, finished_at: '2026-12-01T10:00:00.000Z', ...over,
  };
}

/** The columns schema version 3 added (the stabilization criteria): parts of earlier versions lack them. */
export const VERSION_3_COLUMNS = [
  'loss_diff_smooth', 'stab_subspace', 'stab_sigma', 'delta2_iso', 'delta2_sub', 'delta2_sub_quad', 'delta2_sub_gm', 'stab_thresholds',
  'n_suff_d1', 'n_suff_d1_fit', 'n_suff_d2', 'n_suff_d2_fit', 'stabilization_s',
];

/**
 * Writes `rows` as a part of hessweep 0.1: schema version 1, `finished_at` as ISO text, none of the columns of
 * version 3, no sweep name and no checksum in the metadata.
 */
export function writeLegacyPart(path: string, rows: readonly ResultRow[], specHash = 'c'.repeat(16)): void {
  const full = toTable(rows, meta);
  const current = full.select(full.schema.fields.map((f) => f.name).filter((name) => !VERSION_3_COLUMNS.includes(name)));
  const legacySchema = new Schema(
    current.schema.fields.map((f) => (f.name === 'finished_at' ? f.clone({ type: new Utf8() }) : f)),
    new Map([['hessweep.version', '0.1.0'], ['hessweep.spec_hash', specHash], ['hessweep.schema_version', '1']]),
  );
  const legacy = current.setChild('finished_at', vectorFromArray(rows.map((r) => r.finished_at), new Utf8()));
  writeFileSync(path, tableToIPC(new Table(legacySchema, legacy.batches.map((b) => new RecordBatch(legacySchema, b.data))), 'file'));
}

/**
 * Writes `rows` as a part of schema version 2 (hessweep before issue 11): current types, `finished_at` a timestamp,
 * the sweep in the metadata, none of the columns of version 3, no checksum.
 */
export function writeVersion2Part(path: string, rows: readonly ResultRow[]): void {
  const full = toTable(rows, meta);
  const current = full.select(full.schema.fields.map((f) => f.name).filter((name) => !VERSION_3_COLUMNS.includes(name)));
  const schema = new Schema(current.schema.fields, new Map([
    ['hessweep.version', '0.2.0'], ['hessweep.sweep', meta.sweep], ['hessweep.spec_hash', meta.specHash], ['hessweep.schema_version', '2'],
  ]));
  writeFileSync(path, tableToIPC(new Table(schema, current.batches.map((b) => new RecordBatch(schema, b.data))), 'file'));
}

/** A seeded uniform [0, 1) source (mulberry32), so a failing random case can be replayed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
