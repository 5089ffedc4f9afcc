import { cellId } from './canonical.js';
import { dataSourceFor } from './datasets.js';
import { makeCell, pointCost, type GridPoint } from './expand.js';
import type { SweepSpec } from './spec.js';
import { DATASETS, type Cell } from './types.js';

/** What a plan is made from: the grids and the settings every cell shares. */
export type PlanSource = Pick<SweepSpec, 'grids' | 'train' | 'measure' | 'data'>;

/** The distinct values of the numeric axes over all grids; a point stores indices into these. */
interface AxisValues {
  /** Ascending, so that comparing indices compares values. */
  width: number[];
  depth: number[];
  sample_size: number[];
  /** In order of first appearance in the spec: the index is the seed's rank in the run order. */
  seed: number[];
}

/** The grid points as columns of indices, one entry per point: `dataset` into `DATASETS`, the rest into `AxisValues`. */
interface PointColumns {
  dataset: Uint8Array;
  width: Uint32Array;
  depth: Uint32Array;
  seed: Uint32Array;
  sample_size: Uint32Array;
}

/**
 * Every cell of a sweep, compactly: the grid points in run order as typed-array columns of axis indices
 * (17 bytes a point), with no object per cell until one is asked for; the cells share one frozen copy of
 * the train and measure settings. Cell ids are computed on each call of `idAt` (a SHA-256 each, by
 * `cellId`): a million of them take several seconds, longer than planning itself, and a first run needs
 * each only once, when its cell is queued.
 */
export class GridPlan implements Iterable<Cell> {
  /** @internal Made by `planGrid`. */
  constructor(
    private readonly settings: Pick<SweepSpec, 'train' | 'measure' | 'data'>,
    private readonly values: AxisValues,
    private readonly columns: PointColumns,
  ) {}

  /** Number of distinct cells. */
  get size(): number {
    return this.columns.dataset.length;
  }

  /** The grid point of the `i`-th cell in run order. */
  pointAt(i: number): GridPoint {
    if (!(Number.isInteger(i) && i >= 0 && i < this.size)) throw new RangeError(`cell index ${i} outside 0 … ${this.size - 1}`);
    const { values: v, columns: c } = this;
    return {
      dataset: DATASETS[c.dataset[i]],
      width: v.width[c.width[i]],
      depth: v.depth[c.depth[i]],
      seed: v.seed[c.seed[i]],
      sample_size: v.sample_size[c.sample_size[i]],
    };
  }

  /** The `i`-th cell in run order (`makeCell` of its point). */
  cellAt(i: number): Cell {
    return makeCell(this.pointAt(i), this.settings);
  }

  /** The id of the `i`-th cell (`cellId`, computed on each call). */
  idAt(i: number): string {
    return cellId(this.cellAt(i));
  }

  /** The cells in run order, each made as it is reached. */
  *[Symbol.iterator](): Iterator<Cell> {
    for (let i = 0; i < this.size; i++) yield this.cellAt(i);
  }
}

/**
 * The cells of a sweep: the union of its cartesian grids without duplicates, in run order. Duplicates are
 * found by grid point: the cells of one spec share its train, measure and data settings (a dataset's data
 * source is the spec's, narrowed to the fields that dataset reads), so the point alone decides a cell's id.
 *
 * The run order spreads partial results over the grid: seed by seed (all cells of the first seed, in order
 * of first appearance in the spec, before any of the next), and within a seed the cheapest cells first
 * (`cellCost`), ties broken by dataset (in `DATASETS` order), width, depth and sample size. This function
 * owns that rule. It is a total order on distinct points, so sorting puts duplicates side by side.
 */
export function planGrid(spec: PlanSource): GridPlan {
  const values = axisValues(spec);
  const { columns, cost } = gridPoints(spec, values);
  const order = new Uint32Array(columns.dataset.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  const { dataset, width, depth, seed, sample_size } = columns;
  order.sort(
    (a, b) =>
      seed[a] - seed[b] ||
      cost[a] - cost[b] ||
      dataset[a] - dataset[b] ||
      width[a] - width[b] ||
      depth[a] - depth[b] ||
      sample_size[a] - sample_size[b],
  );
  const same = (a: number, b: number) =>
    seed[a] === seed[b] && dataset[a] === dataset[b] && width[a] === width[b] && depth[a] === depth[b] && sample_size[a] === sample_size[b];
  const kept = order.filter((point, k) => k === 0 || !same(order[k - 1], point));
  const settings = { train: Object.freeze({ ...spec.train }), measure: Object.freeze({ ...spec.measure }), data: spec.data };
  return new GridPlan(settings, values, pick(columns, kept));
}

/** Every cell of a sweep as an array: `planGrid`'s cells, for callers that need few (a one-cell spec, tests). */
export function expandGrid(spec: PlanSource): Cell[] {
  return [...planGrid(spec)];
}

/** Distinct values in order of first appearance (0 and -0 count as one, as they do in a cell id's JSON). */
function distinct<T>(values: Iterable<T>): T[] {
  return [...new Set(values)];
}

function axisValues(spec: PlanSource): AxisValues {
  const ascending = (key: 'width' | 'depth' | 'sample_size') => distinct(spec.grids.flatMap((g) => g[key])).sort((a, b) => a - b);
  return { width: ascending('width'), depth: ascending('depth'), sample_size: ascending('sample_size'), seed: distinct(spec.grids.flatMap((g) => g.seed)) };
}

/** Every point of every grid (duplicates included) as index columns, with the cost of each. */
function gridPoints(spec: PlanSource, values: AxisValues): { columns: PointColumns; cost: Float64Array } {
  const axes = spec.grids.map((grid) => ({
    dataset: distinct(grid.dataset),
    width: distinct(grid.width),
    depth: distinct(grid.depth),
    seed: distinct(grid.seed),
    sample_size: distinct(grid.sample_size),
  }));
  const total = axes.reduce((sum, a) => sum + a.dataset.length * a.width.length * a.depth.length * a.seed.length * a.sample_size.length, 0);
  const columns: PointColumns = {
    dataset: new Uint8Array(total),
    width: new Uint32Array(total),
    depth: new Uint32Array(total),
    seed: new Uint32Array(total),
    sample_size: new Uint32Array(total),
  };
  const cost = new Float64Array(total);
  const indexOf = (list: number[]) => new Map(list.map((value, index) => [value, index]));
  const index = { width: indexOf(values.width), depth: indexOf(values.depth), seed: indexOf(values.seed), sample_size: indexOf(values.sample_size) };
  let n = 0;
  for (const grid of axes) {
    const seeds = grid.seed.map((s) => index.seed.get(s)!);
    for (const dataset of grid.dataset) {
      const data = dataSourceFor(dataset, spec.data);
      for (const width of grid.width) {
        for (const depth of grid.depth) {
          for (const sample_size of grid.sample_size) {
            const at = { dataset: DATASETS.indexOf(dataset), width: index.width.get(width)!, depth: index.depth.get(depth)!, sample_size: index.sample_size.get(sample_size)! };
            const costAt = pointCost({ dataset, width, depth, sample_size }, data, spec.train.epochs);
            for (const seed of seeds) {
              columns.dataset[n] = at.dataset;
              columns.width[n] = at.width;
              columns.depth[n] = at.depth;
              columns.sample_size[n] = at.sample_size;
              columns.seed[n] = seed;
              cost[n] = costAt;
              n++;
            }
          }
        }
      }
    }
  }
  return { columns, cost };
}

/** The rows `kept` of each column, in that order. */
function pick(columns: PointColumns, kept: Uint32Array): PointColumns {
  const rows = <A extends Uint8Array | Uint32Array>(column: A, make: (n: number) => A): A => {
    const out = make(kept.length);
    for (let k = 0; k < kept.length; k++) out[k] = column[kept[k]];
    return out;
  };
  const u32 = (n: number) => new Uint32Array(n);
  return {
    dataset: rows(columns.dataset, (n) => new Uint8Array(n)),
    width: rows(columns.width, u32),
    depth: rows(columns.depth, u32),
    seed: rows(columns.seed, u32),
    sample_size: rows(columns.sample_size, u32),
  };
}
