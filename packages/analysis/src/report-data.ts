/**
 * What `hessweep report` reads from a sweep, gathered in one streaming pass over the rows that stand for
 * cells (the aggregation, one spectral density per group, a fixed-size sample for the bound scatter, seconds
 * per stage) and tallies over every row of each part (rows, compute seconds, attempts, backends, workers).
 * Memory is O(groups × (curve + density points) + failed cells + parts), not O(cells). The densities, the
 * widest columns of a part, are read only for the rows that become their group's pick.
 */
import {
  findWinners, hashBytes, readColumns, readListRows, ROW_LOST, ROW_OK, utf8At, utf8Bytes, validity, winningBatches, type ColumnBatch, type ColumnName,
  type WinnerTable,
} from '@hessweep/results';
import { Aggregation, NO_GROUP, type AggregateResult } from './aggregate.js';
import { DEFAULT_BY } from './types.js';
import type { BoundPoint, BoundSample, DensityCell, FigureData } from './figures.js';

export const STAGES = ['load_s', 'train_s', 'losses_s', 'curve_s', 'hessian_s', 'ggn_s', 'trace_s', 'density_s', 'stabilization_s', 'bound_s', 'total_s'] as const;
export type Stage = (typeof STAGES)[number];

/** Points of the bound scatter: a sample of this many ok cells, whatever their number. */
export const BOUND_SAMPLE = 1000;
/** Seed of the hash that orders cells for the bound sample. */
const SAMPLE_SEED = 0x2545f491;

/** The columns of every row that the tallies read. */
const TALLY_COLUMNS: ColumnName[] = ['total_s', 'attempt', 'backend', 'worker'];

/** Every column the report reads whole (densities are read row by row). */
export const REPORT_COLUMNS: readonly ColumnName[] = [...new Set<ColumnName>([...Aggregation.COLUMNS, ...STAGES, ...TALLY_COLUMNS])];

/** The rows of one part file, whichever cell they stand for: how many, their compute time, who computed them. */
export interface RowTally {
  rows: number;
  /** Σ total_s over the rows (finite ones). */
  seconds: number;
  maxAttempt: number;
  backends: Map<string, number>;
  workers: Map<string, number>;
}

const emptyTally = (): RowTally => ({ rows: 0, seconds: 0, maxAttempt: 0, backends: new Map(), workers: new Map() });

/** Adds `batch`'s rows (it must have TALLY_COLUMNS) to `tally`. */
export function tallyRows(tally: RowTally, batch: ColumnBatch): RowTally {
  const seconds = batch.columns.get('total_s')!.values as Float64Array;
  const attempts = batch.columns.get('attempt')!.values as Int32Array;
  const count = (map: Map<string, number>, name: 'backend' | 'worker') => {
    const data = batch.columns.get(name)!;
    const bytes = utf8Bytes(data);
    for (let i = 0; i < batch.numRows; i++) {
      const value = utf8At(data, bytes, i) || '?';
      map.set(value, (map.get(value) ?? 0) + 1);
    }
  };
  tally.rows += batch.numRows;
  for (let i = 0; i < batch.numRows; i++) {
    if (Number.isFinite(seconds[i])) tally.seconds += seconds[i]!;
    if (attempts[i]! > tally.maxAttempt) tally.maxAttempt = attempts[i]!;
  }
  count(tally.backends, 'backend');
  count(tally.workers, 'worker');
  return tally;
}

function mergeTallies(tallies: Iterable<RowTally>): RowTally {
  const total = emptyTally();
  for (const t of tallies) {
    total.rows += t.rows;
    total.seconds += t.seconds;
    total.maxAttempt = Math.max(total.maxAttempt, t.maxAttempt);
    for (const [from, to] of [[t.backends, total.backends], [t.workers, total.workers]] as const) {
      for (const [name, n] of from) to.set(name, (to.get(name) ?? 0) + n);
    }
  }
  return total;
}

/**
 * A bottom-k sample: the `size` cells with the smallest (seeded hash of the cell id, cell id). It does not depend
 * on the order cells arrive in, so a report and a live report of the same rows draw the same points. Kept as a
 * max-heap on that order.
 */
class CellSample {
  private readonly heap: { hash: number; id: string; point: BoundPoint }[] = [];
  constructor(private readonly size: number) {}

  /** Offers a cell; `id` and `point` are only made when it may enter the sample. */
  offer(hash: number, id: () => string, point: () => BoundPoint): void {
    const heap = this.heap;
    if (heap.length < this.size) {
      heap.push({ hash, id: id(), point: point() });
      this.up(heap.length - 1);
      return;
    }
    const top = heap[0]!;
    if (hash > top.hash) return;
    const cellId = id();
    if (hash === top.hash && cellId >= top.id) return;
    heap[0] = { hash, id: cellId, point: point() };
    this.down(0);
  }

  points(): BoundPoint[] {
    return [...this.heap].sort((a, b) => a.hash - b.hash || (a.id < b.id ? -1 : 1)).map((e) => e.point);
  }

  private above(i: number, j: number): boolean {
    const [a, b] = [this.heap[i]!, this.heap[j]!];
    return a.hash > b.hash || (a.hash === b.hash && a.id > b.id);
  }

  private swap(i: number, j: number): void {
    [this.heap[i], this.heap[j]] = [this.heap[j]!, this.heap[i]!];
  }

  private up(i: number): void {
    while (i > 0 && this.above(i, (i - 1) >> 1)) {
      this.swap(i, (i - 1) >> 1);
      i = (i - 1) >> 1;
    }
  }

  private down(i: number): void {
    for (;;) {
      const [l, r] = [2 * i + 1, 2 * i + 2];
      let top = i;
      if (l < this.heap.length && this.above(l, top)) top = l;
      if (r < this.heap.length && this.above(r, top)) top = r;
      if (top === i) return;
      this.swap(i, top);
      i = top;
    }
  }
}

/** The lowest-seed ok cell of one group (ties: the smaller cell id), and its density (null: it has none). */
interface DensityPick {
  seed: number;
  cellId: string;
  x: Float64Array | null;
  y: Float64Array | null;
}

/** Where a batch's rows are: the part file, and the row in it of the batch's first row. */
export interface BatchPlace {
  path: string;
  base: number;
}

/** Mean and max seconds of one stage over the ok cells. */
export interface StageTime {
  stage: Stage;
  mean: number;
  max: number;
}

/** Everything the report page shows, as of now. */
export interface ReportSnapshot {
  summary: AggregateResult;
  figures: FigureData;
  okCells: number;
  failedCells: number;
  stages: StageTime[];
  /** Over every row of the parts read (retries and superseded rows included). */
  rows: RowTally;
}

/**
 * The report's running state: rows that stand for cells go in with `add` (as Aggregation.add), every row of
 * a part with `tally`. A failed cell can be taken out again (`removeFailed`); an ok cell cannot.
 */
export class ReportData {
  readonly aggregation = new Aggregation(DEFAULT_BY);
  private readonly sample = new CellSample(BOUND_SAMPLE);
  private boundCells = 0;
  private boundBelow = 0;
  private readonly densities: (DensityPick | undefined)[] = [];
  /** Per stage: count, sum, max. */
  private readonly stageSums = new Float64Array(3 * STAGES.length);
  private readonly tallies = new Map<string, RowTally>();

  /**
   * Takes in the rows of `batch` that stand for their cells (see Aggregation.add; the batch has REPORT_COLUMNS),
   * then reads from `place` the densities of the rows that became their group's pick.
   */
  async add(batch: ColumnBatch, mask: Uint8Array, place: BatchPlace, skip?: Uint8Array): Promise<void> {
    const groupOf = this.aggregation.add(batch, mask, skip);
    const ids = batch.columns.get('cell_id')!;
    const idBytes = ids.values as Uint8Array;
    const idOffsets = ids.valueOffsets as Int32Array;
    const idAt = (j: number) => utf8At(ids, utf8Bytes(ids), j)!;
    const seeds = batch.columns.get('seed')!.values as Int32Array;
    const depths = batch.columns.get('depth')!.values as Int32Array;
    const top = batch.columns.get('hessian_top')!;
    const topValid = validity(top);
    const topOffsets = top.valueOffsets as Int32Array;
    const topValues = top.children[0]!.values as Float64Array;
    const bounds = batch.columns.get('bound')!;
    const boundValid = validity(bounds);
    const boundValues = bounds.values as Float64Array;
    /** Group → the row of this batch that is its pick now. */
    const picked = new Map<number, number>();
    const stageValues = STAGES.map((s) => batch.columns.get(s)!.values as Float64Array);

    for (let j = 0; j < batch.numRows; j++) {
      const group = groupOf[j]!;
      if (group === NO_GROUP || mask[j] !== ROW_OK) continue;
      for (let s = 0; s < STAGES.length; s++) {
        const v = stageValues[s]![j]!;
        if (!Number.isFinite(v)) continue;
        this.stageSums[3 * s]!++;
        this.stageSums[3 * s + 1]! += v;
        if (this.stageSums[3 * s]! === 1 || v > this.stageSums[3 * s + 2]!) this.stageSums[3 * s + 2] = v;
      }
      const lambda = topValid(j) && topOffsets[j + 1]! > topOffsets[j]! ? topValues[topOffsets[j]!]! : Number.NaN;
      const bound = boundValid(j) ? boundValues[j]! : Number.NaN;
      if (lambda > 0 && bound > 0 && Number.isFinite(lambda) && Number.isFinite(bound)) {
        this.boundCells++;
        if (bound < lambda) this.boundBelow++;
        const hash = hashBytes(idBytes, idOffsets[j]!, idOffsets[j + 1]!, SAMPLE_SEED);
        this.sample.offer(hash, () => idAt(j), () => ({ dataset: String(this.aggregation.keyOf(group)[0]), depth: depths[j]!, lambda, bound }));
      }
      const pick = this.densities[group];
      if (pick === undefined || seeds[j]! < pick.seed || (seeds[j] === pick.seed && idAt(j) < pick.cellId)) {
        this.densities[group] = { seed: seeds[j]!, cellId: idAt(j), x: null, y: null };
        picked.set(group, j);
      }
    }
    if (picked.size > 0) await this.readDensities(place, picked);
  }

  private async readDensities(place: BatchPlace, picked: Map<number, number>): Promise<void> {
    const wanted = [...picked].sort((a, b) => a[1] - b[1]);
    const rows = wanted.map(([, j]) => place.base + j);
    const [xs, ys] = await Promise.all([readListRows(place.path, 'density_x', rows), readListRows(place.path, 'density_y', rows)]);
    wanted.forEach(([group], i) => Object.assign(this.densities[group]!, { x: xs[i], y: ys[i] }));
  }

  /** Takes a failed cell out (a later row stands for it). */
  removeFailed(cellId: string): void {
    this.aggregation.removeFailed(cellId);
  }

  /** Records the tally of part `path`'s rows (replacing an earlier one). */
  tally(path: string, batches: readonly ColumnBatch[]): void {
    this.tallies.set(path, batches.reduce(tallyRows, emptyTally()));
  }

  /** Forgets part `path`'s tally (the part is gone: compacted into another, whose tally counts its rows). */
  dropTally(path: string): void {
    this.tallies.delete(path);
  }

  snapshot(parts: number): ReportSnapshot {
    const summary = this.aggregation.result(parts);
    const densities: DensityCell[] = [];
    this.densities.forEach((pick, group) => {
      if (!pick?.x || !pick.y) return;
      const [dataset, width, depth, sampleSize] = this.aggregation.keyOf(group);
      densities.push({ cell_id: pick.cellId, dataset: String(dataset), width: Number(width), depth: Number(depth), sample_size: Number(sampleSize), seed: pick.seed, x: pick.x, y: pick.y });
    });
    const bound: BoundSample = { points: this.sample.points(), cells: this.boundCells, below: this.boundBelow };
    const stages = STAGES.map((stage, s) => {
      const n = this.stageSums[3 * s]!;
      return { stage, mean: n ? this.stageSums[3 * s + 1]! / n : Number.NaN, max: n ? this.stageSums[3 * s + 2]! : Number.NaN };
    });
    const failedCells = summary.failed.length;
    return {
      summary, figures: { groups: summary.rows, densities, bound }, okCells: summary.cells - failedCells, failedCells, stages,
      rows: mergeTallies(this.tallies.values()),
    };
  }
}

/** Called with each batch of winning rows as it is read: its part index, the row its first row has in the part, the batch, the part's rows. */
export type BatchSeen = (part: number, base: number, batch: ColumnBatch, partRows: number) => void;

/**
 * Reads a sweep's parts for the report in one pass: the sweep store picks each cell's row (findWinners), then
 * REPORT_COLUMNS of the parts holding winning rows stream into a ReportData (`extra` columns are read too, for
 * `seen`); the few parts whose every row was superseded are read for their tallies alone.
 */
export async function readReportData(
  paths: readonly string[],
  { extra = [], seen }: { extra?: readonly ColumnName[]; seen?: BatchSeen } = {},
): Promise<{ data: ReportData; winners: WinnerTable }> {
  const data = new ReportData();
  const winners = await findWinners(paths);
  const columns = [...new Set([...REPORT_COLUMNS, ...extra])];
  let part = -1;
  let base = 0;
  let batches: ColumnBatch[] = [];
  const flush = () => {
    if (part >= 0) data.tally(paths[part]!, batches);
  };
  for await (const { part: p, batch, mask } of winningBatches(paths, winners, columns)) {
    if (p !== part) {
      flush();
      [part, base, batches] = [p, 0, []];
    }
    await data.add(batch, mask, { path: paths[p]!, base });
    seen?.(p, base, batch, winners.masks[p]!.length);
    batches.push(batch);
    base += batch.numRows;
  }
  flush();
  for (let p = 0; p < paths.length; p++) {
    if (winners.masks[p]!.every((m) => m === ROW_LOST)) data.tally(paths[p]!, await readColumns(paths[p]!, TALLY_COLUMNS));
  }
  return { data, winners };
}
