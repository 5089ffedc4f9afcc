// Sweeps of a grid on disk, with a manifest, for the report tests: rows written one by one with the project's
// writer where the test reads them back as the truth, or many cheap copies of a template part where only the
// number of cells matters (hundreds of thousands, in seconds).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Int32, Table, tableToIPC, Utf8, vectorFromArray } from 'apache-arrow';
import { HESSWEEP_VERSION, parseSpec, specHash, specSettingsHash, type ResultRow } from '@hessweep/grid';
import { toTable, writeManifest, writeResultFile } from '@hessweep/results';
import { failedRow, okRow } from './sweep-fixture.js';

export interface Grid {
  datasets: ('synthetic' | 'mnist')[];
  widths: number[];
  depths: number[];
  sampleSizes: number[];
  seeds: number;
}

export interface GridCell {
  dataset: 'synthetic' | 'mnist';
  width: number;
  depth: number;
  sample_size: number;
  seed: number;
}

export const gridCells = (g: Grid): GridCell[] =>
  g.datasets.flatMap((dataset) => g.widths.flatMap((width) => g.depths.flatMap((depth) => g.sampleSizes.flatMap((sample_size) =>
    Array.from({ length: g.seeds }, (_, seed) => ({ dataset, width, depth, sample_size, seed }))))));

export const cellIdOf = (c: GridCell, attempt = 0): string => `${c.dataset[0]}${c.width}-${c.depth}-${c.sample_size}-${c.seed}${attempt ? `-${attempt}` : ''}`;

/**
 * An ok row of `c` whose measurements differ by cell (so means, spreads and extremes are not degenerate): a
 * 4-point D_k curve on a grid that depends on m, top-2 spectra, an 8-point density.
 */
export function gridRow(c: GridCell, over: Partial<ResultRow> = {}): ResultRow {
  const wiggle = 1 + 0.37 * Math.sin(7 * c.seed + c.width + 3 * c.depth + c.sample_size / 100);
  const lambda = c.width * (1 + c.depth / 10) * wiggle;
  const k = [10, 20, 40, c.sample_size / 2];
  const density_x = Array.from({ length: 8 }, (_, i) => -1 + i * (lambda / 4));
  return {
    ...okRow(c.width, c.seed),
    cell_id: cellIdOf(c), dataset: c.dataset, depth: c.depth, sample_size: c.sample_size,
    loss_diff_k: k, loss_diff: k.map((kk, i) => (wiggle * (1 + i / 10)) / kk),
    hessian_top: [lambda, lambda / 3], ggn_top: [0.9 * lambda, lambda / 4], hessian_trace: 3 * lambda,
    bound: lambda * (c.seed % 5 === 0 ? 0.5 : 20 * wiggle), // every fifth seed below y = x
    density_x, density_y: density_x.map((_, i) => (1 + i + c.seed) / 100),
    total_s: 1 + c.width / 8 + c.seed / 100, train_s: 0.5 + c.depth / 10,
    backend: c.seed % 3 === 0 ? 'wasm' : 'cpu', worker: `w${c.seed % 4}`,
    ...over,
  };
}

export const gridFailedRow = (c: GridCell, error = 'out of memory'): ResultRow => ({ ...failedRow(c.width, c.seed, error), cell_id: cellIdOf(c), dataset: c.dataset, depth: c.depth, sample_size: c.sample_size });

/** The spec of a grid (it names the cells the manifest counts) and its hash. */
export function gridSpec(name: string, g: Grid) {
  const spec = parseSpec(JSON.stringify({
    name,
    grid: { dataset: g.datasets, width: g.widths, depth: g.depths, sample_size: g.sampleSizes, seed: Array.from({ length: g.seeds }, (_, i) => i) },
  }), `${name}.json`);
  return { spec, hash: specHash(spec) };
}

/** A sweep directory for `name`/`g`: its manifest (cell_count: the grid's cells, or `cellCount`) and an empty parts/. */
export async function sweepDir(root: string, name: string, g: Grid, cellCount?: number): Promise<{ dir: string; meta: { sweep: string; specHash: string; version: string } }> {
  const dir = join(root, name);
  mkdirSync(join(dir, 'parts'), { recursive: true });
  const { spec, hash } = gridSpec(name, g);
  const now = new Date().toISOString();
  await writeManifest(join(dir, 'manifest.json'), {
    sweep: name, spec: spec as unknown as Record<string, unknown>, spec_hash: hash, spec_hashes: [hash], settings_hash: specSettingsHash(spec), cell_count: cellCount ?? gridCells(g).length,
    versions: { hessweep: HESSWEEP_VERSION, node: process.version }, created: now, updated: now,
  });
  return { dir, meta: { sweep: name, specHash: hash, version: HESSWEEP_VERSION } };
}

export const partName = (n: number) => `part-${String(n).padStart(6, '0')}.arrow`;

/** Writes rows as part file number n of `dir` (the project's writer: a temp file, then a rename). */
export async function writePart(dir: string, n: number, rows: readonly ResultRow[], meta: { sweep: string; specHash: string; version: string }): Promise<string> {
  const path = join(dir, 'parts', partName(n));
  await writeResultFile(path, rows, meta);
  return path;
}

/**
 * Writes copies number `copies` (in that order) of the template rows, `perPart` copies to a part file, each copy c
 * with its own cell ids (`copy<c>-<row>`) and seeds (c · the template's rows + row): as many distinct cells as
 * rows, in seconds for hundreds of thousands. The parts carry no checksum (a valid part from another writer).
 */
export function writeCopies(
  dir: string, template: readonly ResultRow[], meta: { sweep: string; specHash: string; version: string }, copies: readonly number[], perPart: number,
): number {
  const base = toTable(template, meta);
  const n = template.length;
  let written = 0;
  for (let start = 0; start < copies.length; start += perPart) {
    const batches = [];
    for (const c of copies.slice(start, start + perPart)) {
      const ids = vectorFromArray(Array.from({ length: n }, (_, i) => `copy${c}-${i}`), new Utf8());
      const seeds = vectorFromArray(Array.from({ length: n }, (_, i) => c * n + i), new Int32());
      batches.push(...base.setChild('cell_id', ids).setChild('seed', seeds).batches);
    }
    const path = join(dir, 'parts', partName(written));
    writeFileSync(`${path}.tmp-copies`, tableToIPC(new Table(batches), 'file'));
    renameSync(`${path}.tmp-copies`, path);
    written++;
  }
  return written;
}
