import { dataSourceFor, datasetShape } from './datasets.js';
import { SpecError } from './errors.js';
import type { SweepSpec } from './spec.js';
import { closest, describe } from './suggest.js';
import { DATASETS, type Cell, type DataSource, type DatasetName } from './types.js';

/**
 * Relative cost of a cell: samples × multiply-adds of one forward pass × epochs, with the input
 * dimension and class count of its dataset (a features file counts as 1 × 1).
 */
export function cellCost(cell: Cell): number {
  return pointCost(cell, cell.data, cell.train.epochs);
}

/** `cellCost` of the cell at a grid point (its seed does not count) with this data source and epoch count. */
export function pointCost(point: Omit<GridPoint, 'seed'>, data: DataSource, epochs: number): number {
  const { inputDim, classes } = datasetShape(point.dataset, data);
  const h = point.width;
  return point.sample_size * (inputDim * h + point.depth * h * h + h * classes) * epochs;
}

/** One point of a grid: the values of its five axes. */
export type GridPoint = Pick<Cell, 'dataset' | 'width' | 'depth' | 'seed' | 'sample_size'>;

/**
 * The cell at one grid point under a spec's settings: its train and measure settings and the data-source
 * fields its dataset reads. Every cell, of a sweep or of `hessweep cell`, is put together here. The cell
 * shares the `train` and `measure` objects it is given, so that a million queued cells of a plan share one
 * frozen copy (`planGrid`) instead of carrying a million (cells are never modified; they travel as copies).
 */
export function makeCell(point: GridPoint, settings: Pick<SweepSpec, 'train' | 'measure' | 'data'>): Cell {
  const { dataset, width, depth, seed, sample_size } = point;
  return { dataset, width, depth, seed, sample_size, train: settings.train, measure: settings.measure, data: dataSourceFor(dataset, settings.data) };
}

/** Fields a `--where` clause may test. */
export const WHERE_FIELDS = ['dataset', 'width', 'depth', 'seed', 'sample_size'] as const;
type WhereField = (typeof WHERE_FIELDS)[number];

const CLAUSE = /^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*(!=|<=|>=|==|=|<|>)\s*(.*?)\s*$/;

/**
 * A grid-point filter (a cell is a grid point too) from an expression such as `width=16,depth<=5,dataset=mnist`:
 * clauses joined by commas all have to hold. A clause is FIELD OP VALUE with FIELD one of dataset, width, depth, seed,
 * sample_size (`sample-size` is read as `sample_size`) and OP one of = != < <= > >= (`==` reads as `=`);
 * numbers compare numerically, a dataset only with = or !=. `=` and `!=` take alternatives separated by
 * `|` (`width=4|8`). Every bad clause is reported at once in a `SpecError` for `--where`.
 */
export function parseWhere(expr: string): (point: GridPoint) => boolean {
  const problems: string[] = [];
  const tests: ((point: GridPoint) => boolean)[] = [];
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
      tests.push(op === '=' ? (point) => set.has(point.dataset) : (point) => !set.has(point.dataset));
      continue;
    }

    const numbers = alternatives.map((v) => (v === '' ? Number.NaN : Number(v)));
    const badNumber = alternatives.find((_, i) => !Number.isFinite(numbers[i]));
    if (badNumber !== undefined) {
      problems.push(`${where}: ${field} needs a number, got ${describe(badNumber)}`);
      continue;
    }
    const x = numbers[0];
    const get = (point: GridPoint) => point[field];
    switch (op) {
      case '=':
        tests.push((point) => numbers.includes(get(point)));
        break;
      case '!=':
        tests.push((point) => !numbers.includes(get(point)));
        break;
      case '<':
        tests.push((point) => get(point) < x);
        break;
      case '<=':
        tests.push((point) => get(point) <= x);
        break;
      case '>':
        tests.push((point) => get(point) > x);
        break;
      case '>=':
        tests.push((point) => get(point) >= x);
        break;
    }
  }
  if (problems.length > 0) throw new SpecError('--where', problems);
  return (point) => tests.every((test) => test(point));
}
