import { cellId } from './canonical.js';
import { dataSourceFor, datasetShape } from './datasets.js';
import { SpecError } from './errors.js';
import type { SweepSpec } from './spec.js';
import { closest, describe } from './suggest.js';
import { DATASETS, type Cell, type DatasetName } from './types.js';

/**
 * Relative cost of a cell: samples × multiply-adds of one forward pass × epochs, with the input
 * dimension and class count of its dataset (a features file counts as 1 × 1).
 */
export function cellCost(cell: Cell): number {
  const { inputDim, classes } = datasetShape(cell.dataset, cell.data);
  const h = cell.width;
  return cell.sample_size * (inputDim * h + cell.depth * h * h + h * classes) * cell.train.epochs;
}

/** One point of a grid: the values of its five axes. */
export type GridPoint = Pick<Cell, 'dataset' | 'width' | 'depth' | 'seed' | 'sample_size'>;

/**
 * The cell at one grid point under a spec's settings: its train and measure settings and the data-source
 * fields its dataset reads. Every cell, of a sweep or of `hessweep cell`, is put together here.
 */
export function makeCell(point: GridPoint, settings: Pick<SweepSpec, 'train' | 'measure' | 'data'>): Cell {
  return { ...point, train: { ...settings.train }, measure: { ...settings.measure }, data: dataSourceFor(point.dataset, settings.data) };
}

/**
 * Every cell of the sweep: the union of its cartesian grids, without duplicates (by cell id). The order
 * spreads partial results over the grid: seed by seed (all cells of the first seed, in order of first
 * appearance in the spec, before any of the next), and within a seed the cheapest cells first
 * (`cellCost`), ties broken by dataset (in `DATASETS` order), width, depth and sample size.
 * Each cell is `makeCell` of its grid point and the spec.
 */
export function expandGrid(spec: SweepSpec): Cell[] {
  const seen = new Set<string>();
  const entries: { cell: Cell; cost: number; seedRank: number }[] = [];
  const seedRank = new Map<number, number>();
  for (const grid of spec.grids) for (const seed of grid.seed) if (!seedRank.has(seed)) seedRank.set(seed, seedRank.size);

  for (const grid of spec.grids) {
    for (const dataset of grid.dataset) {
      for (const width of grid.width) {
        for (const depth of grid.depth) {
          for (const seed of grid.seed) {
            for (const sample_size of grid.sample_size) {
              const cell = makeCell({ dataset, width, depth, seed, sample_size }, spec);
              const id = cellId(cell);
              if (seen.has(id)) continue;
              seen.add(id);
              entries.push({ cell, cost: cellCost(cell), seedRank: seedRank.get(seed)! });
            }
          }
        }
      }
    }
  }

  entries.sort(
    (a, b) =>
      a.seedRank - b.seedRank ||
      a.cost - b.cost ||
      DATASETS.indexOf(a.cell.dataset) - DATASETS.indexOf(b.cell.dataset) ||
      a.cell.width - b.cell.width ||
      a.cell.depth - b.cell.depth ||
      a.cell.sample_size - b.cell.sample_size,
  );
  return entries.map((e) => e.cell);
}

/** Fields a `--where` clause may test. */
export const WHERE_FIELDS = ['dataset', 'width', 'depth', 'seed', 'sample_size'] as const;
type WhereField = (typeof WHERE_FIELDS)[number];

const CLAUSE = /^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*(!=|<=|>=|==|=|<|>)\s*(.*?)\s*$/;

/**
 * A cell filter from an expression such as `width=16,depth<=5,dataset=mnist`: clauses joined by commas
 * all have to hold. A clause is FIELD OP VALUE with FIELD one of dataset, width, depth, seed,
 * sample_size (`sample-size` is read as `sample_size`) and OP one of = != < <= > >= (`==` reads as `=`);
 * numbers compare numerically, a dataset only with = or !=. `=` and `!=` take alternatives separated by
 * `|` (`width=4|8`). Every bad clause is reported at once in a `SpecError` for `--where`.
 */
export function parseWhere(expr: string): (cell: Cell) => boolean {
  const problems: string[] = [];
  const tests: ((cell: Cell) => boolean)[] = [];
  if (expr.trim() === '') throw new SpecError('--where', ['empty expression (expected e.g. width=16,depth<=5)']);

  for (const [index, clause] of expr.split(',').entries()) {
    const where = `clause ${index + 1} ${JSON.stringify(clause.trim())}`;
    if (clause.trim() === '') {
      problems.push(`clause ${index + 1}: empty (a stray comma?)`);
      continue;
    }
    const match = CLAUSE.exec(clause);
    if (match === null) {
      problems.push(`${where}: expected FIELD OP VALUE with OP one of = != < <= > >= (e.g. width=16)`);
      continue;
    }
    const [, rawField, rawOp, rawValue] = match;
    const fieldName = rawField.replace(/-/g, '_');
    const op = rawOp === '==' ? '=' : rawOp;
    if (!(WHERE_FIELDS as readonly string[]).includes(fieldName)) {
      const guess = closest(rawField, WHERE_FIELDS);
      problems.push(
        `${where}: unknown field ${describe(rawField)}` +
          (guess === undefined ? ` (expected one of ${WHERE_FIELDS.join(', ')})` : ` (did you mean "${guess}"?)`),
      );
      continue;
    }
    const field = fieldName as WhereField;
    if (rawValue === '') {
      problems.push(`${where}: missing value after ${op}`);
      continue;
    }
    const alternatives = rawValue.split('|').map((v) => v.trim());
    if (alternatives.length > 1 && op !== '=' && op !== '!=') {
      problems.push(`${where}: alternatives (a|b) only go with = or !=`);
      continue;
    }

    if (field === 'dataset') {
      if (op !== '=' && op !== '!=') {
        problems.push(`${where}: dataset can only be compared with = or !=`);
        continue;
      }
      const bad = alternatives.filter((v) => !(DATASETS as readonly string[]).includes(v));
      if (bad.length > 0) {
        for (const v of bad) {
          const guess = closest(v, DATASETS);
          problems.push(
            `${where}: unknown dataset ${describe(v)}` +
              (guess === undefined ? ` (expected one of ${DATASETS.join(', ')})` : ` (did you mean "${guess}"?)`),
          );
        }
        continue;
      }
      const set = new Set(alternatives as DatasetName[]);
      tests.push(op === '=' ? (cell) => set.has(cell.dataset) : (cell) => !set.has(cell.dataset));
      continue;
    }

    const numbers = alternatives.map((v) => (v === '' ? Number.NaN : Number(v)));
    const badNumber = alternatives.find((_, i) => !Number.isFinite(numbers[i]));
    if (badNumber !== undefined) {
      problems.push(`${where}: ${field} needs a number, got ${describe(badNumber)}`);
      continue;
    }
    const x = numbers[0];
    const get = (cell: Cell) => cell[field];
    switch (op) {
      case '=':
        tests.push((cell) => numbers.includes(get(cell)));
        break;
      case '!=':
        tests.push((cell) => !numbers.includes(get(cell)));
        break;
      case '<':
        tests.push((cell) => get(cell) < x);
        break;
      case '<=':
        tests.push((cell) => get(cell) <= x);
        break;
      case '>':
        tests.push((cell) => get(cell) > x);
        break;
      case '>=':
        tests.push((cell) => get(cell) >= x);
        break;
    }
  }
  if (problems.length > 0) throw new SpecError('--where', problems);
  return (cell) => tests.every((test) => test(cell));
}
