import { readFile } from 'node:fs/promises';
import { LIMITS, expandGrid, parseSpec, parseWhere, specHash, specSettingsHash, type Cell, type SweepSpec } from '@hessweep/grid';
import type { SweepPlan } from '@hessweep/coordinator';
import { UsageError } from './errors.js';

/** `--max-cells`, for every command that runs a spec (`run`, `coordinator`). */
export const MAX_CELLS_OPTION = {
  type: 'number',
  default: LIMITS.cells,
  describe: 'refuse a spec of more cells than this (counted before anything is expanded)',
} as const;

/**
 * A spec file read and validated, expanded into the coordinator's plan, with the `--where` slice. A spec
 * of more than `maxCells` cells is refused before it is expanded.
 */
export async function loadPlan(path: string, where?: string, maxCells: number = LIMITS.cells): Promise<{ spec: SweepSpec; plan: SweepPlan; include?: (cell: Cell) => boolean; selected: number }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`${path}: cannot read the spec (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  if (!(Number.isInteger(maxCells) && maxCells > 0)) throw new UsageError(`--max-cells must be a positive integer, got ${maxCells}`);
  const spec = parseSpec(text, path, { maxCells });
  const include = where ? parseWhere(where) : undefined;
  const cells = expandGrid(spec);
  const selected = include ? cells.filter(include).length : cells.length;
  if (selected === 0) throw new UsageError(`--where '${where}' selects none of the ${cells.length} cells of ${path}`);
  return { spec, plan: { sweep: spec.name, cells, spec: spec as unknown as Record<string, unknown>, specHash: specHash(spec), settingsHash: specSettingsHash(spec) }, include, selected };
}

export function positiveIntegers(args: Record<string, unknown>, names: readonly string[]): void {
  const bad = names.filter((name) => !(Number.isInteger(args[name]) && (args[name] as number) > 0));
  if (bad.length) throw new UsageError(bad.map((name) => `--${name} must be a positive integer, got ${args[name]}`).join('\n'));
}

