import { readFile } from 'node:fs/promises';
import { LIMITS, parseSpec, parseWhere, planGrid, specHash, specSettingsHash, type GridPlan, type GridPoint, type SweepSpec } from '@hessweep/grid';
import type { SweepPlan } from '@hessweep/coordinator';
import { UsageError } from './errors.js';

/** `--max-cells`, for every command that runs a spec (`run`, `coordinator`). */
export const MAX_CELLS_OPTION = {
  type: 'number',
  default: LIMITS.cells,
  describe: 'refuse a spec of more cells than this (counted before anything is expanded)',
} as const;

/**
 * A spec file read and validated, planned for the coordinator (a compact plan: a million cells take tens of
 * megabytes and about a second), with the `--where` slice and how many cells it selects. A spec of more than
 * `maxCells` cells is refused before it is planned.
 */
export async function loadPlan(path: string, where?: string, maxCells: number = LIMITS.cells): Promise<{ spec: SweepSpec; plan: SweepPlan; include?: (point: GridPoint) => boolean; selected: number }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`${path}: cannot read the spec (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  if (!(Number.isInteger(maxCells) && maxCells > 0)) throw new UsageError(`--max-cells must be a positive integer, got ${maxCells}`);
  const spec = parseSpec(text, path, { maxCells });
  const include = where ? parseWhere(where) : undefined;
  const grid = planGrid(spec);
  const selected = include ? countSelected(grid, include) : grid.size;
  if (selected === 0) throw new UsageError(`--where '${where}' selects none of the ${grid.size} cells of ${path}`);
  return { spec, plan: { sweep: spec.name, grid, spec: spec as unknown as Record<string, unknown>, specHash: specHash(spec), settingsHash: specSettingsHash(spec) }, include, selected };
}

function countSelected(grid: GridPlan, include: (point: GridPoint) => boolean): number {
  let selected = 0;
  for (let i = 0; i < grid.size; i++) if (include(grid.pointAt(i))) selected++;
  return selected;
}

export function positiveIntegers(args: Record<string, unknown>, names: readonly string[]): void {
  const bad = names.filter((name) => !(Number.isInteger(args[name]) && (args[name] as number) > 0));
  if (bad.length) throw new UsageError(bad.map((name) => `--${name} must be a positive integer, got ${args[name]}`).join('\n'));
}

