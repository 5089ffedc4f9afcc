import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { canonicalJson } from './canonical.js';
import { SpecError } from './errors.js';
import { expandGrid } from './plan.js';
import { LIMITS } from './limits.js';
import {
  FLAG_DIALECT, SETTINGS, SETTING_NAMES, SPEC_DIALECT, batchProblem, count, paramsProblem, samplesProblem, subspaceProblem, topKProblem,
  type Dialect, type GridKey, type SettingName,
} from './settings.js';
import { GRID_KEYS, MEASURE_KEYS, MEASURE_SETTING_KEYS, SPEC_KEYS, STABILIZATION_KEYS, SWEEP_NAME_MAX, SWEEP_NAME_PATTERN, SYNTHETIC_KEYS, TRAIN_KEYS, type GridAxes, type SweepSpec } from './spec.js';
import { closest, describe } from './suggest.js';
import { DATASETS, type BackendChoice, type Cell, type DataSource, type DatasetName, type MeasureSettings, type TrainSettings } from './types.js';

export { SpecError } from './errors.js';
export { DATASET_SIZES } from './datasets.js';

type Mapping = Record<string, unknown>;

function isMapping(value: unknown): value is Mapping {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** The last key of a spec path: `lr` of `train.lr`. */
function keyOf(spec: string): string {
  return spec.slice(spec.lastIndexOf('.') + 1);
}

/** Collects problems as `place: message` lines, the place shown in the dialect's way. */
class Problems {
  readonly list: string[] = [];
  constructor(private readonly dialect: Dialect) {}
  add(path: string, message: string): void {
    const where = this.dialect.where(path);
    this.list.push(where === '' ? message : `${where}: ${message}`);
  }
}

/** Hints for keys written at the top level that belong elsewhere: `lr` → `train.lr`, `features_path` → `features`. */
const TOP_LEVEL_HINTS: Record<string, string> = Object.fromEntries(
  SETTING_NAMES.flatMap((name) => {
    const spec = SETTINGS[name].spec;
    return [name, keyOf(spec)].filter((key) => key !== spec).map((key) => [key, spec]);
  }),
);

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

/** A setting read from the mapping that holds it: its default when absent, the value when good, the default (and a problem) when bad. */
function settingValue(obj: Mapping, name: SettingName, problems: Problems): unknown {
  const setting = SETTINGS[name];
  const value = obj[keyOf(setting.spec)];
  if (value === undefined) return setting.default;
  const message = setting.check(value);
  if (message === undefined) return value;
  problems.add(setting.spec, message);
  return setting.default;
}

/** Whether a setting is absent (so its default holds) or good. */
function absentOrGood(obj: Mapping, name: SettingName): boolean {
  const value = obj[keyOf(SETTINGS[name].spec)];
  return value === undefined || SETTINGS[name].check(value) === undefined;
}

/** The settings `names` of one section, each read and checked through the table. */
function sectionValues(obj: Mapping, names: readonly SettingName[], problems: Problems): Mapping {
  return Object.fromEntries(names.map((name) => [name, settingValue(obj, name, problems)]));
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

const AXIS_HINT: Record<GridKey, string> = {
  dataset: `a list of datasets (${DATASETS.join(', ')})`,
  width: 'a list of positive integers',
  depth: 'a list of non-negative integers',
  seed: 'a list of non-negative integers',
  sample_size: 'a list of integers ≥ 2',
};

/** The values of an axis as written: a scalar stands for a one-element list (its path has no index). */
function axisItems(raw: unknown, axisPath: string): { raw: unknown; path: string }[] {
  if (Array.isArray(raw)) return raw.map((item, i) => ({ raw: item, path: `${axisPath}[${i}]` }));
  return raw === null ? [] : [{ raw, path: axisPath }];
}

function axis<T>(grid: Mapping, key: GridKey, path: string, problems: Problems, dialect: Dialect): Axis<T> {
  const setting = SETTINGS[key];
  const axisPath = join(path, key);
  const raw = grid[key];
  if (raw === undefined) {
    if (setting.default !== undefined) return [{ value: setting.default as T, path: axisPath }];
    problems.add(axisPath, `required (${AXIS_HINT[key]})`);
    return [];
  }
  if (!dialect.lists && Array.isArray(raw)) {
    problems.add(axisPath, `takes one value per cell, got ${describe(raw)}`);
    return [];
  }
  const items = axisItems(raw, axisPath);
  if (items.length === 0) {
    problems.add(axisPath, 'must not be empty');
    return [];
  }
  const good: Axis<T> = [];
  const counts = new Map<unknown, number>();
  for (const item of items) {
    const message = setting.check(item.raw);
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
  /** How many values each axis was given, good or bad (an absent seed axis counts its default). */
  given: Record<GridKey, number>;
  /** Some entry of the dataset axis was bad (so cross-checks on datasets would guess). */
  datasetTrouble: boolean;
}

function parseGrid(raw: unknown, path: string, problems: Problems, dialect: Dialect): ParsedGrid | undefined {
  if (!isMapping(raw)) {
    problems.add(path, `must be a mapping of ${GRID_KEYS.join(', ')}, got ${describe(raw)}`);
    return undefined;
  }
  checkKeys(raw, GRID_KEYS, path, problems);
  const before = problems.list.length;
  const dataset = axis<DatasetName>(raw, 'dataset', path, problems, dialect);
  const datasetTrouble = problems.list.length > before;
  const given = Object.fromEntries(
    GRID_KEYS.map((key) => [key, raw[key] === undefined ? (SETTINGS[key].default === undefined ? 0 : 1) : axisItems(raw[key], key).length]),
  ) as Record<GridKey, number>;
  return {
    path,
    dataset,
    width: axis<number>(raw, 'width', path, problems, dialect),
    depth: axis<number>(raw, 'depth', path, problems, dialect),
    seed: axis<number>(raw, 'seed', path, problems, dialect),
    sample_size: axis<number>(raw, 'sample_size', path, problems, dialect),
    given,
    datasetTrouble,
  };
}

/**
 * More cells than `maxCells` (the product of each grid's axis lengths as given, summed over the grids: an
 * upper bound, duplicates included): the message, else undefined. Counted without expanding anything.
 */
function cellCountProblem(grids: ParsedGrid[], maxCells: number): string | undefined {
  const sizes = grids.map((grid) => GRID_KEYS.reduce((product, key) => product * grid.given[key], 1));
  const total = sizes.reduce((sum, size) => sum + size, 0);
  if (total <= maxCells) return undefined;
  const axes = (grid: ParsedGrid) => GRID_KEYS.map((key) => `${key} ${count(grid.given[key])}`).join(' × ');
  const breakdown = grids.length === 1 ? axes(grids[0]) : grids.map((grid) => `${grid.path}: ${axes(grid)}`).join(' + ');
  return `${count(total)} cells (${breakdown}), over the limit of ${count(maxCells)}; narrow the grid or raise --max-cells`;
}

/** Reports the first message of `messages` at `path`, with how many more there were (a grid can hold thousands). */
function reportFirst(problems: Problems, path: string, messages: Iterable<string | undefined>, what: string): void {
  let first: string | undefined;
  let more = 0;
  for (const message of messages) {
    if (message === undefined) continue;
    if (first === undefined) first = message;
    else more++;
  }
  if (first !== undefined) problems.add(path, more === 0 ? first : `${first} (and ${count(more)} more ${what})`);
}

function* pairs<A, B, R>(as: Axis<A>, bs: Axis<B>, f: (a: A, b: B) => R): Generator<R> {
  for (const a of as) for (const b of bs) yield f(a.value, b.value);
}

/** Networks too big for a worker, per grid and dataset: parameters (width × depth) and full-batch floats (samples × width). */
function checkShapes(grids: ParsedGrid[], data: DataSource, problems: Problems, dialect: Dialect): void {
  for (const grid of grids) {
    for (const { value: dataset } of grid.dataset) {
      const params = pairs(grid.width, grid.depth, (width, depth) => paramsProblem(dataset, width, depth, data, dialect));
      reportFirst(problems, grid.path, params, 'width × depth pairs');
      const floats = pairs(grid.sample_size, grid.width, (size, width) => batchProblem(dataset, width, size, data, dialect));
      reportFirst(problems, grid.path, floats, 'sample_size × width pairs');
    }
  }
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


export interface ParseOptions {
  /** The most cells a spec may have, counted before expansion (default `LIMITS.cells`; `--max-cells` raises it). */
  maxCells?: number;
}

/**
 * Parses and validates a sweep spec. `path` picks the syntax (`.json`: JSON, otherwise YAML) and is the
 * directory that relative `features` and `data_dir` paths are resolved against. Every problem found is
 * reported at once, each with its field path, in one thrown `SpecError`; a spec of more than `maxCells`
 * cells is refused before anything is expanded.
 */
export function parseSpec(text: string, path: string, options: ParseOptions = {}): SweepSpec {
  const raw = parseDocumentText(text, path);
  if (!isMapping(raw)) {
    throw new SpecError(path, [`(top level): must be a mapping with at least name and grid, got ${describe(raw === undefined ? null : raw)}`]);
  }
  return checkDocument(raw, { source: path, baseDir: dirname(resolve(path)), maxCells: options.maxCells ?? LIMITS.cells, dialect: SPEC_DIALECT });
}

/** The spec document that `hessweep cell` flags stand for: each flag's value at its setting's spec path. */
function documentFromFlags(flags: Record<string, unknown>): Mapping {
  const doc: Mapping = { name: 'cell' };
  for (const name of SETTING_NAMES) {
    const { spec, flag } = SETTINGS[name];
    if (flags[flag] === undefined) continue;
    const keys = spec.split('.');
    let holder = doc;
    for (const key of keys.slice(0, -1)) holder = (holder[key] ??= {}) as Mapping;
    holder[keys.at(-1)!] = flags[flag];
  }
  return doc;
}

/**
 * The cell that `hessweep cell` flags (keyed by flag name, e.g. `sample-size`) describe, and its backend:
 * a one-cell spec checked by the same rules as a spec file, each problem naming its flag, all at once in
 * one `SpecError`. Relative `--features` and `--data-dir` resolve against `baseDir` (the current directory),
 * so the same file gives the same cell id as in a spec that names it.
 */
export function cellFromFlags(flags: Record<string, unknown>, baseDir: string): { cell: Cell; backend: BackendChoice } {
  const spec = checkDocument(documentFromFlags(flags), { source: 'command line', baseDir, maxCells: Infinity, dialect: FLAG_DIALECT });
  return { cell: expandGrid(spec)[0], backend: spec.backend };
}

interface CheckContext {
  /** Names the document in the SpecError: the spec's path, or `command line`. */
  source: string;
  /** What relative `features` and `data_dir` paths are resolved against. */
  baseDir: string;
  maxCells: number;
  dialect: Dialect;
}

/** Validates a spec document (parsed YAML or JSON, or flags put in its shape) into a SweepSpec, or throws every problem. */
function checkDocument(raw: Mapping, { source, baseDir, maxCells, dialect }: CheckContext): SweepSpec {
  const problems = new Problems(dialect);
  checkKeys(raw, SPEC_KEYS, '', problems, TOP_LEVEL_HINTS);

  // name
  const name = raw.name;
  if (name === undefined || name === null) problems.add('name', 'required ([A-Za-z0-9_-]+, used in file and subject names)');
  else if (typeof name !== 'string' || !SWEEP_NAME_PATTERN.test(name)) {
    problems.add('name', `must match [A-Za-z0-9_-]+ (used in file and subject names), got ${describe(name)}`);
  } else if (name.length > SWEEP_NAME_MAX) {
    problems.add('name', `must be at most ${SWEEP_NAME_MAX} characters (it names a directory and NATS subjects), got ${name.length}`);
  }

  // grid / grids
  const parsed: ParsedGrid[] = [];
  const hasGrid = raw.grid !== undefined;
  const hasGrids = raw.grids !== undefined;
  if (hasGrid && hasGrids) problems.add('grids', 'give either grid (one cartesian grid) or grids (a list of them), not both');
  else if (!hasGrid && !hasGrids) problems.add('grid', 'required (or grids: a list of grids whose union is the sweep)');
  else if (hasGrid) {
    const grid = parseGrid(raw.grid, 'grid', problems, dialect);
    if (grid) parsed.push(grid);
  } else {
    const list = raw.grids;
    if (Array.isArray(list)) {
      if (list.length === 0) problems.add('grids', 'must not be empty');
      list.forEach((item, i) => {
        const grid = parseGrid(item, `grids[${i}]`, problems, dialect);
        if (grid) parsed.push(grid);
      });
    } else if (isMapping(list)) {
      const grid = parseGrid(list, 'grids', problems, dialect);
      if (grid) parsed.push(grid);
    } else {
      problems.add('grids', `must be a list of grids, got ${describe(list)}`);
    }
  }

  // train and measure
  const t = section(raw.train, 'train', TRAIN_KEYS, problems);
  const train = sectionValues(t, TRAIN_KEYS, problems) as unknown as TrainSettings;
  const m = section(raw.measure, 'measure', MEASURE_KEYS, problems);
  const measure = sectionValues(m, MEASURE_SETTING_KEYS, problems) as unknown as MeasureSettings;
  if (absentOrGood(m, 'top_k') && absentOrGood(m, 'lanczos_iters')) {
    const message = topKProblem(measure.top_k, measure.lanczos_iters, dialect);
    if (message !== undefined) problems.add(SETTINGS.top_k.spec, message);
  }
  const st = section(m.stabilization, SETTINGS.stab_subspace.spec.replace(/\.subspace$/, ''), STABILIZATION_KEYS, problems);
  measure.stabilization = Object.fromEntries(
    STABILIZATION_KEYS.map((key) => [key, settingValue(st, `stab_${key}`, problems)]),
  ) as unknown as MeasureSettings['stabilization'];
  // The default subspace shrinks to the Ritz vectors asked for (top_k 0: no probes); a subspace given must fit.
  if (st.subspace === undefined) measure.stabilization.subspace = Math.min(measure.stabilization.subspace, measure.top_k);
  else if (absentOrGood(st, 'stab_subspace') && absentOrGood(m, 'top_k')) {
    const message = subspaceProblem(measure.stabilization.subspace, measure.top_k, dialect);
    if (message !== undefined) problems.add(SETTINGS.stab_subspace.spec, message);
  }

  // data sources
  const data: DataSource = {};
  const dataDir = settingValue(raw, 'data_dir', problems) as string | undefined;
  if (dataDir !== undefined) data.data_dir = resolve(baseDir, dataDir);
  const features = settingValue(raw, 'features_path', problems) as string | undefined;
  if (features !== undefined) data.features_path = resolve(baseDir, features);
  const labelColumn = settingValue(raw, 'label_column', problems) as string | undefined;
  if (labelColumn !== undefined) data.label_column = labelColumn;
  const s = section(raw.synthetic, 'synthetic', SYNTHETIC_KEYS, problems);
  const dim = settingValue(s, 'synthetic_dim', problems) as number | undefined;
  if (dim !== undefined) data.synthetic_dim = dim;
  const classes = settingValue(s, 'synthetic_classes', problems) as number | undefined;
  if (classes !== undefined) data.synthetic_classes = classes;

  const backend = settingValue(raw, 'backend', problems) as BackendChoice;

  // checks across fields
  const datasets = new Set(parsed.flatMap((g) => g.dataset.map((d) => d.value)));
  const datasetTrouble = parsed.some((g) => g.datasetTrouble);
  if (datasets.has('features') && raw.features === undefined) {
    problems.add('features', 'required by the features dataset (an Arrow or CSV file of feature vectors and labels)');
  }
  if (!datasets.has('features') && !datasetTrouble && features !== undefined && parsed.length > 0) {
    problems.add('features', `only used by the features dataset, which ${dialect.featuresAbsent(hasGrids)}`);
  }
  if (raw.data_dir === undefined) {
    if (datasets.has('cifar10')) problems.add('data_dir', 'required by cifar10 (the directory with data_batch_1.bin … data_batch_5.bin)');
    if (datasets.has('cifar100')) problems.add('data_dir', 'required by cifar100 (the directory with train.bin)');
  }
  for (const grid of parsed) {
    for (const size of grid.sample_size) {
      for (const { value: dataset } of grid.dataset) {
        const message = samplesProblem(dataset, size.value, data);
        if (message !== undefined) problems.add(size.path, message);
      }
    }
  }
  const tooMany = cellCountProblem(parsed, maxCells);
  if (tooMany !== undefined) problems.add(hasGrids ? 'grids' : 'grid', tooMany);
  // Per-shape checks loop over the grid's shapes, so only for a grid of acceptable size.
  else checkShapes(parsed, data, problems, dialect);

  if (problems.list.length > 0) throw new SpecError(source, problems.list);
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
export async function readSpec(path: string, options: ParseOptions = {}): Promise<SweepSpec> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new SpecError(path, [`cannot read the spec file: ${(error as Error).message}`]);
  }
  return parseSpec(text, path, options);
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
 * grid(s), `data.data_dir` (the same files may sit elsewhere; cell ids leave it out too) and `backend` (it
 * picks how, not what, a cell computes). Equal settings hashes with different `specHash`es mean the grid
 * changed (e.g. was extended) and finished cells stay valid; a different settings hash means every cell is
 * a new one.
 */
export function specSettingsHash(spec: SweepSpec): string {
  const { name: _name, grid: _grid, grids: _grids, backend: _backend, data, ...settings } = spec;
  const { data_dir: _dataDir, ...dataIdentity } = data;
  return sha256(canonicalJson({ ...settings, data: dataIdentity }));
}
