/**
 * `hessweep report --watch`: keeps `report/index.html` current while a sweep runs, reading only the part files
 * that are new since the last update.
 *
 * State: the sweep store's WinnerTable (which row stands for each cell, parts folded in name order) and the
 * report's running ReportData. A new part is read once: its `cell_id` and `status` go through the table, which
 * says which earlier rows its rows supersede; then its winning rows go into the ReportData. A superseded failed
 * row is taken out again; a superseded ok row is either the same row moved (a compaction wrote a merged part:
 * same finished_at, total_s and attempt), which counts once, or a different row, whose contribution cannot be
 * taken out of the running statistics, so the state is rebuilt from every part. A part that disappears was
 * compacted: its rows reappeared in a newer merged part, so it holds no winning row any more and only its row
 * tally goes; if it still held winners (a part deleted or quarantined), or a new part's name sorts before one
 * already folded, the state is rebuilt too. A rebuild is one pass of `hessweep report`.
 */
import { readdir } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataType, type Data } from 'apache-arrow';
import {
  isPartFileName, partFileProblem, readColumns, readManifest, ResultFileError, ROW_FAILED, ROW_LOST, scanParts, sweepPaths, SweepStoreError,
  utf8At, utf8Bytes, type ColumnBatch, type ColumnName, type Manifest, type PartExpectation, type WinnerTable,
} from '@hessweep/results';
import { readReportData, REPORT_COLUMNS, type ReportData, type ReportSnapshot } from './report-data.js';
import { renderReport, type LiveStatus, type ReportOptions, type ReportResult } from './report.js';

/** Columns that tell one write of a cell's row from another (with total_s and attempt, which the report reads anyway). */
const IDENTITY_COLUMNS: ColumnName[] = ['finished_at'];

/** Per row of a folded part: what makes it the same row when a compaction copies it into another part. */
interface RowIdentity {
  finished: Float64Array;
  seconds: Float64Array;
  attempt: Int32Array;
}

interface LiveState {
  table: WinnerTable;
  data: ReportData;
  /** Folded part names, in table order (the table's part index). */
  names: string[];
  /** Identities of the rows of folded part p that stood for a cell when read (undefined: none did). */
  identities: (RowIdentity | undefined)[];
  /** Names folded and still present. */
  present: Set<string>;
}

/** How long back the rate of cells per second is measured. */
const RATE_WINDOW_MS = 10 * 60 * 1000;

export interface LiveOptions extends ReportOptions {
  /** Seconds between reloads of the page (and, in the CLI, between polls of the parts). */
  reloadSeconds: number;
}

export interface LiveUpdate {
  /** Whether the page was written (something changed since the last update). */
  written: boolean;
  /** Whether every part was read afresh. */
  rebuilt: boolean;
  status: LiveStatus;
  result: ReportResult | null;
  /** Warnings first seen in this update (damaged or foreign parts), one line each. */
  warnings: string[];
}

/** A row's finished_at as epoch milliseconds (a version-1 file keeps it as ISO-8601 text). */
function finishedMillis(data: Data): (i: number) => number {
  if (DataType.isUtf8(data.type)) {
    const bytes = utf8Bytes(data);
    return (i) => Date.parse(utf8At(data, bytes, i) ?? '');
  }
  const values = data.values as BigInt64Array;
  return (i) => Number(values[i]);
}

/** The identities of a part's rows, from its batches (which have IDENTITY_COLUMNS, total_s and attempt). */
function identitiesOf(batches: readonly ColumnBatch[]): RowIdentity {
  const rows = batches.reduce((n, b) => n + b.numRows, 0);
  const identity: RowIdentity = { finished: new Float64Array(rows), seconds: new Float64Array(rows), attempt: new Int32Array(rows) };
  let base = 0;
  for (const batch of batches) {
    addIdentities(identity, base, batch);
    base += batch.numRows;
  }
  return identity;
}

function addIdentities(identity: RowIdentity, base: number, batch: ColumnBatch): void {
  const finished = finishedMillis(batch.columns.get('finished_at')!);
  identity.seconds.set((batch.columns.get('total_s')!.values as Float64Array).subarray(0, batch.numRows), base);
  identity.attempt.set((batch.columns.get('attempt')!.values as Int32Array).subarray(0, batch.numRows), base);
  for (let i = 0; i < batch.numRows; i++) identity.finished[base + i] = finished(i);
}

const sameIdentity = (a: RowIdentity, i: number, b: RowIdentity, j: number) =>
  Object.is(a.finished[i], b.finished[j]) && Object.is(a.seconds[i], b.seconds[j]) && a.attempt[i] === b.attempt[j];

/** Thrown inside a fold when the state must be rebuilt from every part. */
class RebuildNeeded extends Error {}

export class LiveReport {
  private state: LiveState | null = null;
  /** Damaged or foreign parts already warned about: name → why, and the size and time of the file then (a change means look again). */
  private readonly damaged = new Map<string, { reason: string; stamp: string }>();
  /** (time, cells done) at each update, for the rate. */
  private readonly samples: { at: number; done: number }[] = [];
  private lastManifest = '';

  constructor(
    readonly sweepDir: string,
    readonly options: LiveOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Brings the state up to date with `parts/` (reading only new parts unless a rebuild is needed) and, when
   * anything changed, writes the report. A part that vanishes while it is read (a compaction removing it) makes
   * the update start over, at most a few times. After a failed update the next one reads every part: a fold
   * cut short may have taken in part of a part.
   */
  async update(): Promise<LiveUpdate> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.tryUpdate();
      } catch (error) {
        this.state = null;
        const vanished = error instanceof ResultFileError && !existsSync(error.path);
        if (!vanished || attempt >= 3) throw error;
      }
    }
  }

  /** What the page shows as of the last update (null before the first). */
  snapshot(): ReportSnapshot | null {
    return this.state && this.state.data.snapshot(this.state.present.size);
  }

  private async tryUpdate(): Promise<LiveUpdate> {
    const paths = sweepPaths(this.sweepDir);
    const manifest = await readManifest(paths.manifest);
    if (!manifest) throw new SweepStoreError(`${this.sweepDir}: no manifest.json here; give a sweep directory, <out>/<sweep>`);
    const expect: PartExpectation = { sweep: manifest.sweep, specHashes: manifest.spec_hashes };
    const names = await listParts(paths.parts);
    const damagedBefore = this.damaged.size;
    for (const [name, { stamp }] of this.damaged) if (stampOf(join(paths.parts, name)) !== stamp) this.damaged.delete(name); // gone or rewritten
    const warnings: string[] = [];
    let changed = JSON.stringify(manifest) !== this.lastManifest || this.damaged.size !== damagedBefore;
    this.lastManifest = JSON.stringify(manifest);
    let rebuilt = false;
    if (this.state !== null) {
      try {
        if (await this.foldChanges(paths.parts, names, expect, warnings)) changed = true;
      } catch (error) {
        if (!(error instanceof RebuildNeeded)) throw error;
        this.state = null;
      }
    }
    if (this.state === null) {
      await this.rebuild(paths.parts, expect, warnings);
      rebuilt = true;
      changed = true;
    }
    if (warnings.length > 0) changed = true; // the page names the part
    const status = this.status(manifest);
    const result = changed ? await this.render(manifest, status) : null;
    return { written: result !== null, rebuilt, status, result, warnings };
  }

  /**
   * Folds what changed in `parts/` into the state; returns whether anything did. New parts first: a compaction's
   * merged part takes over the rows of the small parts it replaces, which may be gone already. Throws RebuildNeeded.
   */
  private async foldChanges(partsDir: string, names: readonly string[], expect: PartExpectation, warnings: string[]): Promise<boolean> {
    const state = this.state!;
    let changed = false;
    const known = new Set(state.names);
    const fresh = names.filter((n) => !known.has(n) && !this.damaged.has(n));
    const last = state.names.at(-1);
    if (fresh.length > 0 && last !== undefined && fresh[0]! <= last) throw new RebuildNeeded(); // out of name order
    for (const name of fresh) {
      const path = join(partsDir, name);
      const problem = await partFileProblem(path, expect);
      if (problem !== null) {
        if (!existsSync(path)) break; // vanished: the next update sees what replaced it
        this.warnDamaged(partsDir, name, problem, warnings);
        continue;
      }
      await this.foldPart(path, name);
      changed = true;
    }
    const listed = new Set(names);
    for (const name of [...state.present]) {
      if (listed.has(name)) continue;
      const index = state.names.indexOf(name);
      if (state.table.masks[index]!.some((m) => m !== ROW_LOST)) throw new RebuildNeeded(); // rows gone, not moved
      state.data.dropTally(join(partsDir, name));
      state.present.delete(name);
      changed = true;
    }
    return changed;
  }

  /** Reads one new part and folds it in (see the module comment). Throws RebuildNeeded. */
  private async foldPart(path: string, name: string): Promise<void> {
    const state = this.state!;
    const batches = await readColumns(path, [...REPORT_COLUMNS, ...IDENTITY_COLUMNS]);
    const identity = identitiesOf(batches);
    const index = state.names.length;
    /** Rows of this part that carry a cell already counted where it stood before (a moved row). */
    const counted = new Uint8Array(identity.attempt.length);
    const failedGone: number[] = [];
    let rebuild = false;
    state.table.foldPart(path, batches, (part, row, previous, by) => {
      if (previous === ROW_FAILED) {
        if (part !== index) failedGone.push(by);
        return;
      }
      const before = part === index ? identity : state.identities[part];
      const moved = before !== undefined && sameIdentity(before, row, identity, by) && (part !== index || counted[row] === 1);
      if (moved) counted[by] = 1;
      else if (part !== index || counted[row] === 1) rebuild = true; // an ok row counted before is replaced by another
    });
    state.names.push(name);
    state.identities.push(identity);
    state.present.add(name);
    if (rebuild) throw new RebuildNeeded();
    const idAt = rowReader(batches, 'cell_id');
    for (const row of failedGone) state.data.removeFailed(idAt(row));
    const mask = state.table.masks[index]!;
    let base = 0;
    for (const batch of batches) {
      await state.data.add(batch, mask.subarray(base, base + batch.numRows), { path, base }, counted.subarray(base, base + batch.numRows));
      base += batch.numRows;
    }
    state.data.tally(path, batches);
  }

  /** Reads every usable part afresh (one pass of the report). */
  private async rebuild(partsDir: string, expect: PartExpectation, warnings: string[]): Promise<void> {
    this.state = null;
    const scan = await scanParts(partsDir, expect);
    for (const d of scan.damaged) if (existsSync(d.path)) this.warnDamaged(partsDir, d.name, d.reason, warnings);
    const identities: (RowIdentity | undefined)[] = scan.parts.map(() => undefined);
    const { data, winners } = await readReportData(scan.parts, {
      extra: IDENTITY_COLUMNS,
      seen: (part, base, batch, rows) => {
        const identity = (identities[part] ??= { finished: new Float64Array(rows), seconds: new Float64Array(rows), attempt: new Int32Array(rows) });
        addIdentities(identity, base, batch);
      },
    });
    const names = scan.parts.map((p) => p.slice(partsDir.length + 1));
    this.state = { table: winners, data, names, identities, present: new Set(names) };
  }

  private warnDamaged(partsDir: string, name: string, reason: string, warnings: string[]): void {
    if (this.damaged.has(name)) return;
    this.damaged.set(name, { reason, stamp: stampOf(join(partsDir, name)) });
    warnings.push(`${name} cannot be used (${reason}); \`hessweep status ${this.sweepDir} --quarantine\` moves it aside`);
  }

  /** Cells done, failed and planned; the rate over the last RATE_WINDOW_MS of updates, and the ETA at that rate. */
  private status(manifest: Manifest): LiveStatus {
    const snapshotCells = this.state!.data.aggregation.cells;
    const failed = this.state!.data.aggregation.failedCells;
    const at = this.now();
    this.samples.push({ at, done: snapshotCells });
    while (this.samples.length > 2 && this.samples[0]!.at < at - RATE_WINDOW_MS) this.samples.shift();
    const first = this.samples[0]!;
    const seconds = (at - first.at) / 1000;
    const rate = seconds > 0 && snapshotCells > first.done ? (snapshotCells - first.done) / seconds : null;
    const total = Math.max(manifest.cell_count, snapshotCells);
    return {
      done: snapshotCells, failed, total, rate, etaSeconds: rate ? (total - snapshotCells) / rate : null,
      reloadSeconds: this.options.reloadSeconds,
      warnings: [...this.damaged].map(([name, { reason }]) => `${name} cannot be used: ${reason}`),
    };
  }

  private async render(manifest: Manifest, live: LiveStatus): Promise<ReportResult> {
    return renderReport({ sweepDir: this.sweepDir, manifest, snapshot: this.snapshot()!, options: { ...this.options, now: new Date(this.now()) }, live });
  }
}

/** A file's size and modification time, '' when it is gone: a part written again (a copy that was still going on) changes it. */
function stampOf(path: string): string {
  try {
    const stat = statSync(path);
    return `${stat.size}:${stat.mtimeMs}`;
  } catch {
    return '';
  }
}

/** The part file names in `partsDir`, in name order; none when it does not exist yet. */
async function listParts(partsDir: string): Promise<string[]> {
  try {
    return (await readdir(partsDir)).filter(isPartFileName).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new SweepStoreError(`${partsDir}: cannot list the part files: ${(error as Error).message}`);
  }
}

/** Reads a utf8 column of a part by its row number within the part. */
function rowReader(batches: readonly ColumnBatch[], name: ColumnName): (row: number) => string {
  return (row) => {
    for (const batch of batches) {
      if (row < batch.numRows) {
        const data = batch.columns.get(name)!;
        return utf8At(data, utf8Bytes(data), row)!;
      }
      row -= batch.numRows;
    }
    throw new RangeError(`row ${row} beyond the part's rows`);
  };
}
