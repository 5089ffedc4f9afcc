import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { canonicalJson } from './canonical.js';
import { trainingSetSize } from './datasets.js';
import { SpecError } from './errors.js';
import {
  DEFAULT_SEEDS, GRID_KEYS, MEASURE_KEYS, SPEC_KEYS, SWEEP_NAME_PATTERN, SYNTHETIC_KEYS, TRAIN_KEYS,
  type GridAxes, type SweepSpec,
} from './spec.js';
import { closest, describe } from './suggest.js';
import {
  BACKENDS, DATASETS, DEFAULT_MEASURE, DEFAULT_TRAIN,
  type BackendChoice, type DataSource, type DatasetName, type InitScheme, type MeasureSettings, type TrainSettings,
} from './types.js';

export { SpecError } from './errors.js';
export { DATASET_SIZES } from './datasets.js';

type Mapping = Record<string, unknown>;

function isMapping(value: unknown): value is Mapping {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** Collects problems as `path: message` lines. */
class Problems {
  readonly list: string[] = [];
  add(path: string, message: string): void {
    this.list.push(`${path}: ${message}`);
  }
}

/** A check returns the message for a bad value (without the path), or undefined for a good one. */
type Check = (value: unknown) => string | undefined;

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

const positiveInt: Check = (v) => (isInt(v) && v > 0 ? undefined : `must be a positive integer, got ${describe(v)}`);
const nonNegativeInt: Check = (v) => (isInt(v) && v >= 0 ? undefined : `must be a non-negative integer, got ${describe(v)}`);
const seedCheck: Check = (v) => (isInt(v) && v >= 0 && v < 2 ** 32 ? undefined : `must be a non-negative integer below 2^32, got ${describe(v)}`);
const sampleSizeCheck: Check = (v) =>
  isInt(v) && v >= 2 ? undefined : `must be an integer ≥ 2 (the loss-difference curve compares two samples), got ${describe(v)}`;
const boolean: Check = (v) => (typeof v === 'boolean' ? undefined : `must be a boolean, got ${describe(v)}`);
const positiveNumber: Check = (v) =>
  typeof v === 'number' && Number.isFinite(v) && v > 0 ? undefined : `must be a positive number, got ${describe(v)}`;
const unitInterval: Check = (v) =>
  typeof v === 'number' && v >= 0 && v < 1 ? undefined : `must be a number in [0, 1), got ${describe(v)}`;
const nonEmptyString: Check = (v) => (typeof v === 'string' && v.trim() !== '' ? undefined : `must be a non-empty string, got ${describe(v)}`);
function oneOf(choices: readonly string[]): Check {
  return (v) => {
    if (typeof v === 'string' && choices.includes(v)) return undefined;
    const guess = typeof v === 'string' ? closest(v, choices) : undefined;
    return `must be one of ${choices.join(', ')}, got ${describe(v)}${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`;
  };
}
/** Backend names people reach for that mean the tensorflow backend. */
const TENSORFLOW_ALIASES = ['gpu', 'cuda', 'node', 'tfjs-node', 'tfjs-node-gpu', 'tf', 'tensorflow-gpu'];
const backendCheck: Check = (v) =>
  typeof v === 'string' && TENSORFLOW_ALIASES.includes(v.toLowerCase())
    ? `must be one of ${BACKENDS.join(', ')}, got ${describe(v)} (did you mean "tensorflow"? it loads tfjs-node-gpu where installed)`
    : oneOf(BACKENDS)(v);
const optimizerCheck: Check = (v) => (v === 'adam' ? undefined : `must be "adam" (the only optimizer), got ${describe(v)}`);

/** Hints for keys written at the top level that belong elsewhere. */
const TOP_LEVEL_HINTS: Record<string, string> = {
  ...Object.fromEntries(GRID_KEYS.map((k) => [k, `grid.${k}`])),
  ...Object.fromEntries(TRAIN_KEYS.map((k) => [k, `train.${k}`])),
  ...Object.fromEntries(MEASURE_KEYS.map((k) => [k, `measure.${k}`])),
  features_path: 'features',
  synthetic_dim: 'synthetic.dim',
  synthetic_classes: 'synthetic.classes',
};

function checkKeys(obj: Mapping, allowed: readonly string[], path: string, problems: Problems, hints: Record<string, string> = {}): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue;
    const nearHint = closest(key, Object.keys(hints));
    const guess = hints[key] ?? closest(key, allowed) ?? (nearHint === undefined ? undefined : hints[nearHint]);
    problems.add(
      join(path, key),
      guess === undefined ? `unknown key (expected one of: ${allowed.join(', ')})` : `unknown key (did you mean "${guess}"?)`,
    );
  }
}

/** A value checked in place: its default when absent, the value when good, the default (and a problem) when bad. */
function field<T>(obj: Mapping, key: string, path: string, fallback: T, check: Check, problems: Problems): T {
  const value = obj[key];
  if (value === undefined) return fallback;
  const message = check(value);
  if (message !== undefined) {
    problems.add(join(path, key), message);
    return fallback;
  }
  return value as T;
}

/** A sub-mapping (`train`, `measure`, `synthetic`); absent or null reads as empty. */
function section(value: unknown, path: string, keys: readonly string[], problems: Problems): Mapping {
  if (value === undefined || value === null) return {};
  if (!isMapping(value)) {
    problems.add(path, `must be a mapping, got ${describe(value)}`);
    return {};
  }
  checkKeys(value, keys, path, problems);
  return value;
}

/** The good values of one grid axis, each with the path it was written at. */
type Axis<T> = { value: T; path: string }[];

const AXIS_HINT: Record<(typeof GRID_KEYS)[number], string> = {
  dataset: `a list of datasets (${DATASETS.join(', ')})`,
  width: 'a list of positive integers',
  depth: 'a list of non-negative integers',
  seed: 'a list of non-negative integers',
  sample_size: 'a list of integers ≥ 2',
};

function axis<T>(grid: Mapping, key: (typeof GRID_KEYS)[number], path: string, check: Check, problems: Problems, fallback?: readonly T[]): Axis<T> {
  const axisPath = join(path, key);
  const raw = grid[key];
  if (raw === undefined) {
    if (fallback !== undefined) return fallback.map((value) => ({ value, path: axisPath }));
    problems.add(axisPath, `required (${AXIS_HINT[key]})`);
    return [];
  }
  // A scalar stands for a one-element list; its path has no index.
  const items: { raw: unknown; path: string }[] = Array.isArray(raw)
    ? raw.map((item, i) => ({ raw: item, path: `${axisPath}[${i}]` }))
    : raw === null
      ? []
      : [{ raw, path: axisPath }];
  if (items.length === 0) {
    problems.add(axisPath, 'must not be empty');
    return [];
  }
  const good: Axis<T> = [];
  const counts = new Map<unknown, number>();
  for (const item of items) {
    const message = check(item.raw);
    if (message !== undefined) {
      problems.add(item.path, message);
      continue;
    }
    good.push({ value: item.raw as T, path: item.path });
    counts.set(item.raw, (counts.get(item.raw) ?? 0) + 1);
  }
  for (const [value, count] of counts) {
    if (count > 1) problems.add(axisPath, `${describe(value)} appears ${count === 2 ? 'twice' : `${count} times`}`);
  }
  return good;
}

interface ParsedGrid {
  path: string;
  dataset: Axis<DatasetName>;
  width: Axis<number>;
  depth: Axis<number>;
  seed: Axis<number>;
  sample_size: Axis<number>;
  /** Some entry of the dataset axis was bad (so cross-checks on datasets would guess). */
  datasetTrouble: boolean;
}

function parseGrid(raw: unknown, path: string, problems: Problems): ParsedGrid | undefined {
  if (!isMapping(raw)) {
    problems.add(path, `must be a mapping of ${GRID_KEYS.join(', ')}, got ${describe(raw)}`);
    return undefined;
  }
  checkKeys(raw, GRID_KEYS, path, problems);
  const before = problems.list.length;
  const dataset = axis<DatasetName>(raw, 'dataset', path, oneOf(DATASETS), problems);
  const datasetTrouble = problems.list.length > before;
  return {
    path,
    dataset,
    width: axis<number>(raw, 'width', path, positiveInt, problems),
    depth: axis<number>(raw, 'depth', path, nonNegativeInt, problems),
    seed: axis<number>(raw, 'seed', path, seedCheck, problems, DEFAULT_SEEDS),
    sample_size: axis<number>(raw, 'sample_size', path, sampleSizeCheck, problems),
    datasetTrouble,
  };
}

function axesOf(grid: ParsedGrid): GridAxes {
  const values = <T>(a: Axis<T>) => a.map((item) => item.value);
  return {
    dataset: values(grid.dataset),
    width: values(grid.width),
    depth: values(grid.depth),
    seed: values(grid.seed),
    sample_size: values(grid.sample_size),
  };
}

/** Each axis: every value some grid uses, in order of first appearance. */
function envelope(grids: GridAxes[]): GridAxes {
  const union = <K extends keyof GridAxes>(key: K): GridAxes[K] =>
    [...new Set(grids.flatMap((g) => g[key] as unknown[]))] as GridAxes[K];
  return { dataset: union('dataset'), width: union('width'), depth: union('depth'), seed: union('seed'), sample_size: union('sample_size') };
}

function lineAndColumn(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, col: before[before.length - 1].length + 1 };
}

/** The document as plain data: JSON for `.json` files, YAML (1.2 core schema, merge keys allowed) otherwise. */
function parseDocumentText(text: string, path: string): unknown {
  if (extname(path).toLowerCase() === '.json') {
    try {
      return JSON.parse(text);
    } catch (error) {
      const message = (error as Error).message;
      const at = /at position (\d+)/.exec(message);
      if (at === null) throw new SpecError(path, [`invalid JSON: ${message}`]);
      const { line, col } = lineAndColumn(text, Number(at[1]));
      throw new SpecError(path, [`line ${line}, column ${col}: invalid JSON: ${message.replace(/\s*in JSON at position \d+.*$/s, '')}`]);
    }
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new SpecError(
      path,
      doc.errors.map((error) => {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        return `line ${line}, column ${col}: ${error.message}`;
      }),
    );
  }
  try {
    return doc.toJS({ maxAliasCount: 1000 });
  } catch (error) {
    throw new SpecError(path, [`invalid YAML: ${(error as Error).message}`]);
  }
}

/**
 * Parses and validates a sweep spec. `path` picks the syntax (`.json`: JSON, otherwise YAML) and is the
 * directory that relative `features` and `data_dir` paths are resolved against. Every problem found is
 * reported at once, each with its field path, in one thrown `SpecError`.
 */
export function parseSpec(text: string, path: string): SweepSpec {
  const raw = parseDocumentText(text, path);
  const problems = new Problems();
  if (!isMapping(raw)) {
    throw new SpecError(path, [`(top level): must be a mapping with at least name and grid, got ${describe(raw === undefined ? null : raw)}`]);
  }
  const specDir = dirname(resolve(path));
  checkKeys(raw, SPEC_KEYS, '', problems, TOP_LEVEL_HINTS);

  // name
  const name = raw.name;
  if (name === undefined || name === null) problems.add('name', 'required ([A-Za-z0-9_-]+, used in file and subject names)');
  else if (typeof name !== 'string' || !SWEEP_NAME_PATTERN.test(name)) {
    problems.add('name', `must match [A-Za-z0-9_-]+ (used in file and subject names), got ${describe(name)}`);
  }

  // grid / grids
  const parsed: ParsedGrid[] = [];
  const hasGrid = raw.grid !== undefined;
  const hasGrids = raw.grids !== undefined;
  if (hasGrid && hasGrids) problems.add('grids', 'give either grid (one cartesian grid) or grids (a list of them), not both');
  else if (!hasGrid && !hasGrids) problems.add('grid', 'required (or grids: a list of grids whose union is the sweep)');
  else if (hasGrid) {
    const grid = parseGrid(raw.grid, 'grid', problems);
    if (grid) parsed.push(grid);
  } else {
    const list = raw.grids;
    if (Array.isArray(list)) {
      if (list.length === 0) problems.add('grids', 'must not be empty');
      list.forEach((item, i) => {
        const grid = parseGrid(item, `grids[${i}]`, problems);
        if (grid) parsed.push(grid);
      });
    } else if (isMapping(list)) {
      const grid = parseGrid(list, 'grids', problems);
      if (grid) parsed.push(grid);
    } else {
      problems.add('grids', `must be a list of grids, got ${describe(list)}`);
    }
  }

  // train
  const t = section(raw.train, 'train', TRAIN_KEYS, problems);
  const train: TrainSettings = {
    epochs: field(t, 'epochs', 'train', DEFAULT_TRAIN.epochs, positiveInt, problems),
    batch_size: field(t, 'batch_size', 'train', DEFAULT_TRAIN.batch_size, positiveInt, problems),
    optimizer: field(t, 'optimizer', 'train', DEFAULT_TRAIN.optimizer, optimizerCheck, problems),
    lr: field(t, 'lr', 'train', DEFAULT_TRAIN.lr, positiveNumber, problems),
    bias: field(t, 'bias', 'train', DEFAULT_TRAIN.bias, boolean, problems),
    init: field<InitScheme>(t, 'init', 'train', DEFAULT_TRAIN.init, oneOf(['uniform', 'he']), problems),
  };

  // measure
  const m = section(raw.measure, 'measure', MEASURE_KEYS, problems);
  const measure: MeasureSettings = {
    permutations: field(m, 'permutations', 'measure', DEFAULT_MEASURE.permutations, positiveInt, problems),
    curve_points: field(m, 'curve_points', 'measure', DEFAULT_MEASURE.curve_points, positiveInt, problems),
    top_k: field(m, 'top_k', 'measure', DEFAULT_MEASURE.top_k, nonNegativeInt, problems),
    lanczos_iters: field(m, 'lanczos_iters', 'measure', DEFAULT_MEASURE.lanczos_iters, positiveInt, problems),
    lanczos_tol: field(m, 'lanczos_tol', 'measure', DEFAULT_MEASURE.lanczos_tol, unitInterval, problems),
    ggn: field(m, 'ggn', 'measure', DEFAULT_MEASURE.ggn, boolean, problems),
    trace_probes: field(m, 'trace_probes', 'measure', DEFAULT_MEASURE.trace_probes, nonNegativeInt, problems),
    density: field(m, 'density', 'measure', DEFAULT_MEASURE.density, boolean, problems),
  };
  const topKGood = m.top_k === undefined || nonNegativeInt(m.top_k) === undefined;
  const itersGood = m.lanczos_iters === undefined || positiveInt(m.lanczos_iters) === undefined;
  if (topKGood && itersGood && measure.top_k > measure.lanczos_iters) {
    problems.add('measure.top_k', `${measure.top_k} exceeds measure.lanczos_iters (${measure.lanczos_iters}): Lanczos finds at most that many eigenvalues`);
  }

  // data sources
  const data: DataSource = {};
  const dataDir = field<string | undefined>(raw, 'data_dir', '', undefined, nonEmptyString, problems);
  if (dataDir !== undefined) data.data_dir = resolve(specDir, dataDir);
  const features = field<string | undefined>(raw, 'features', '', undefined, nonEmptyString, problems);
  if (features !== undefined) data.features_path = resolve(specDir, features);
  const labelColumn = field<string | undefined>(raw, 'label_column', '', undefined, nonEmptyString, problems);
  if (labelColumn !== undefined) data.label_column = labelColumn;
  const s = section(raw.synthetic, 'synthetic', SYNTHETIC_KEYS, problems);
  const dim = field<number | undefined>(s, 'dim', 'synthetic', undefined, positiveInt, problems);
  if (dim !== undefined) data.synthetic_dim = dim;
  const classes = field<number | undefined>(s, 'classes', 'synthetic', undefined, positiveInt, problems);
  if (classes !== undefined) data.synthetic_classes = classes;

  const backend = field<BackendChoice>(raw, 'backend', '', 'auto', backendCheck, problems);

  // checks across fields
  const datasets = new Set(parsed.flatMap((g) => g.dataset.map((d) => d.value)));
  const datasetTrouble = parsed.some((g) => g.datasetTrouble);
  const gridWord = hasGrids ? 'no grid includes' : 'the grid does not include';
  if (datasets.has('features') && raw.features === undefined) {
    problems.add('features', 'required by the features dataset (an Arrow or CSV file of feature vectors and labels)');
  }
  if (!datasets.has('features') && !datasetTrouble && features !== undefined && parsed.length > 0) {
    problems.add('features', `only used by the features dataset, which ${gridWord}`);
  }
  if (raw.data_dir === undefined) {
    if (datasets.has('cifar10')) problems.add('data_dir', 'required by cifar10 (the directory with data_batch_1.bin … data_batch_5.bin)');
    if (datasets.has('cifar100')) problems.add('data_dir', 'required by cifar100 (the directory with train.bin)');
  }
  for (const grid of parsed) {
    for (const size of grid.sample_size) {
      for (const { value: dataset } of grid.dataset) {
        const available = trainingSetSize(dataset, data);
        if (available !== undefined && size.value > available) {
          problems.add(size.path, `${size.value} exceeds the ${available} samples of ${dataset}`);
        }
      }
    }
  }

  if (problems.list.length > 0) throw new SpecError(path, problems.list);
  const grids = parsed.map(axesOf);
  return {
    name: name as string,
    grid: grids.length === 1 ? grids[0] : envelope(grids),
    grids,
    train,
    measure,
    data,
    backend,
  };
}

/** Reads and parses a spec file; an unreadable file is a `SpecError` too. */
export async function readSpec(path: string): Promise<SweepSpec> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new SpecError(path, [`cannot read the spec file: ${(error as Error).message}`]);
  }
  return parseSpec(text, path);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** SHA-256 (hex) of the canonical JSON of the whole spec: equal specs, equal hashes, whatever the key order. */
export function specHash(spec: SweepSpec): string {
  return sha256(canonicalJson(spec));
}

/**
 * SHA-256 (hex) of what a spec says about how each cell is computed: everything but the name and the
 * grid(s), and but `data.data_dir` (the same files may sit elsewhere; cell ids leave it out too). Equal
 * settings hashes with different `specHash`es mean the grid changed (e.g. was extended) and finished
 * cells stay valid; a different settings hash means every cell is a new one.
 */
export function specSettingsHash(spec: SweepSpec): string {
  const { name: _name, grid: _grid, grids: _grids, data, ...settings } = spec;
  const { data_dir: _dataDir, ...dataIdentity } = data;
  return sha256(canonicalJson({ ...settings, data: dataIdentity }));
}
