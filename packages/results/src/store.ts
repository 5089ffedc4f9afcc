/**
 * The sweep store: one results directory, `<out>/<sweep>/`, and every rule about reading it.
 *
 *   manifest.json     what the sweep is (manifest.ts)
 *   lock.json         which live process writes it (lock.ts)
 *   parts/part-*.arrow  result rows, each file written whole or not at all
 *   quarantine/       part files moved aside by `hessweep status --quarantine`
 *
 * The coordinator, `status`, `aggregate`, `report` and `export` all read through here, so they agree on which
 * files count and on which row stands for a cell.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Table } from 'apache-arrow';
import { describeCause, PartGoneError, ResultFileError, SweepStoreError } from './errors.js';
import { IpcFileReader, utf8At, utf8Bytes, type ColumnBatch } from './ipc.js';
import { readManifest, type Manifest } from './manifest.js';
import { checkResultSchema, decodeResultFile, withCurrentTypes } from './reader.js';
import { META_SPEC_HASH, META_SWEEP, type ColumnName } from './schema.js';

export interface SweepPaths {
  dir: string;
  parts: string;
  manifest: string;
  lock: string;
  quarantine: string;
}

export function sweepPaths(dir: string): SweepPaths {
  return { dir, parts: join(dir, 'parts'), manifest: join(dir, 'manifest.json'), lock: join(dir, 'lock.json'), quarantine: join(dir, 'quarantine') };
}

/** Part files are named `part-*.arrow`; a write in progress (`*.tmp-*`) never is one. */
const PART_FILE = /^part-.*\.arrow$/;

export function isPartFileName(name: string): boolean {
  return PART_FILE.test(name) && !name.includes('.tmp-');
}

/**
 * A part merged by compaction (compact.ts) is named after the last part it replaced, plus a generation:
 * `part-….c000001.arrow`, so it sorts right after that part, where the rows it holds were.
 */
const MERGED_PART = /^(part-.*)\.c(\d{6})\.arrow$/;

export function mergedPartName(last: string): string | null {
  const merged = MERGED_PART.exec(last);
  const base = merged ? merged[1]! : last.slice(0, -'.arrow'.length);
  const generation = merged ? Number(merged[2]) + 1 : 1;
  return generation > 999_999 ? null : `${base}.c${String(generation).padStart(6, '0')}.arrow`;
}

export function isMergedPartName(name: string): boolean {
  return MERGED_PART.test(name);
}

/** How often a reader lists or reads again when compaction keeps changing the parts under it, before giving up. */
const READ_ATTEMPTS = 20;

/**
 * The part file names of `partsDir`, sorted, from a listing that a second one confirms. A listing is not an
 * instant: a compaction could put its merged file in place and remove the parts it replaced while the
 * directory is being read, and a listing could miss both. The second listing shows such a change: a listed
 * part is gone, or a merged part appeared; the listing is then repeated. New parts of a running writer
 * (sorting after every listed name) are no such change. Null when `partsDir` does not exist.
 */
export async function listPartNames(partsDir: string): Promise<string[] | null> {
  let previous = await readPartNames(partsDir);
  for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
    const names = await readPartNames(partsDir);
    if (previous === null || names === null) return names;
    if (sameParts(previous, names)) return names;
    previous = names;
  }
  throw new SweepStoreError(`${partsDir}: the part files kept changing while being listed (a compaction running?); try again`);
}

async function readPartNames(partsDir: string): Promise<string[] | null> {
  try {
    return (await readdir(partsDir)).filter(isPartFileName).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SweepStoreError(`${partsDir}: cannot list the part files: ${describeCause(error)}`);
  }
}

/** Whether `next` lists what `previous` did, give or take parts written since (sorting after all of `previous`). */
function sameParts(previous: readonly string[], next: readonly string[]): boolean {
  const before = new Set(previous);
  const last = previous.at(-1) ?? '';
  if (previous.some((name) => !next.includes(name))) return false;
  return next.every((name) => before.has(name) || (name > last && !isMergedPartName(name)));
}

/** A file (or directory) under `parts/` that looks like a part but cannot be used as one. */
export interface DamagedPart {
  name: string;
  path: string;
  reason: string;
}

export interface PartScan {
  /** Usable part files, in name order (names start with a time stamp: write order). */
  parts: string[];
  /** The spec hashes the usable parts were written under. */
  specHashes: Set<string>;
  damaged: DamagedPart[];
  /** Temp files of writes that never finished (a killed writer); never results. */
  temps: string[];
}

/** What a part of this sweep carries: the sweep's name and, when the manifest keeps them, one of its spec hashes. */
export interface PartExpectation {
  /** The sweep name; when absent, the first usable part decides and every other must agree. */
  sweep?: string;
  specHashes?: readonly string[];
}

/**
 * Lists `parts/` and checks every part file: a regular, non-empty, complete Arrow IPC file with the result
 * schema, an intact checksum, and the metadata of this sweep. Files that fail are returned as damaged with
 * the reason, never read as rows.
 */
export async function scanParts(partsDir: string, expect: PartExpectation = {}): Promise<PartScan> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await scanPartsOnce(partsDir, expect);
    } catch (error) {
      if (!(error instanceof PartGoneError) || attempt === READ_ATTEMPTS) throw vanished(partsDir, error);
    }
  }
}

async function scanPartsOnce(partsDir: string, expect: PartExpectation): Promise<PartScan> {
  const names = await listPartNames(partsDir);
  if (names === null) return { parts: [], specHashes: new Set(), damaged: [], temps: [] };
  let entries: string[];
  try {
    entries = await readdir(partsDir);
  } catch (error) {
    throw new SweepStoreError(`${partsDir}: cannot list the part files: ${describeCause(error)}`);
  }
  const scan: PartScan = { parts: [], specHashes: new Set(), damaged: [], temps: entries.filter((n) => n.includes('.tmp-')).sort() };
  let sweep = expect.sweep;
  for (const name of names) {
    const path = join(partsDir, name);
    try {
      const found = await checkPart(path, sweep, expect.specHashes);
      sweep ??= found.sweep;
      if (found.specHash !== undefined) scan.specHashes.add(found.specHash);
      scan.parts.push(path);
    } catch (error) {
      if (!(error instanceof ResultFileError) || error instanceof PartGoneError) throw error;
      scan.damaged.push({ name, path, reason: error.message.slice(path.length + 2) });
    }
  }
  return scan;
}

/**
 * Runs `read` (which lists the parts of `dir` and reads them) again from the start when a part it listed is
 * gone by the time it opens it: a compaction merged that part, and wrote the merged part durably before
 * removing it, so a fresh listing holds every row. Readers take no lock; this is how they tolerate a
 * compaction running beside them.
 */
export async function readConsistently<T>(dir: string, read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (!(error instanceof PartGoneError) || attempt === READ_ATTEMPTS) throw vanished(dir, error);
    }
  }
}

/** A read that lost its parts to compaction too often says so; any other error is passed on as it is. */
function vanished(dir: string, error: unknown): unknown {
  if (!(error instanceof PartGoneError)) return error;
  return new SweepStoreError(`${dir}: part files kept being merged away while being read (a compaction running?); try again`);
}

/** Why part file `path` cannot be used (scanParts' checks, as for a part of a sweep with `expect`), or null when it can. */
export async function partFileProblem(path: string, expect: PartExpectation = {}): Promise<string | null> {
  try {
    await checkPart(path, expect.sweep, expect.specHashes);
    return null;
  } catch (error) {
    if (!(error instanceof ResultFileError)) throw error;
    return error.message.slice(path.length + 2);
  }
}

/** Checks one part file (see scanParts); returns the sweep its rows belong to and the spec it was written under. */
async function checkPart(path: string, sweep: string | undefined, specHashes: readonly string[] | undefined): Promise<{ sweep: string; specHash?: string }> {
  const reader = await IpcFileReader.open(path);
  try {
    checkResultSchema(path, reader.schema);
    await reader.verify();
    const metadata = reader.schema.metadata;
    const owner = await partSweep(reader);
    if (sweep !== undefined && owner !== sweep) throw new ResultFileError(path, `rows of sweep "${owner}", not of "${sweep}" (copied from another sweep?)`);
    const hash = metadata.get(META_SPEC_HASH);
    if (specHashes !== undefined && specHashes.length > 0 && (hash === undefined || !specHashes.includes(hash))) {
      throw new ResultFileError(path, `written under spec ${hash?.slice(0, 12) ?? '(none)'}…, which this sweep never ran (copied from another sweep directory?)`);
    }
    return { sweep: owner, specHash: hash };
  } finally {
    await reader.close();
  }
}

/** The sweep a part's rows belong to: its metadata says, or for a part of hessweep 0.1, its rows' `sweep` column. */
export async function partSweep(reader: IpcFileReader): Promise<string> {
  return reader.schema.metadata.get(META_SWEEP) ?? (await legacySweepName(reader));
}

/** Parts of hessweep 0.1 carry no sweep name in their metadata: their rows' `sweep` column says it, and must agree. */
async function legacySweepName(reader: IpcFileReader): Promise<string> {
  const names = new Set<string>();
  for (const batch of await reader.columns(['sweep'])) {
    const column = batch.columns.get('sweep')!;
    const bytes = utf8Bytes(column);
    for (let i = 0; i < batch.numRows; i++) names.add(String(utf8At(column, bytes, i)));
  }
  if (names.size !== 1) throw new ResultFileError(reader.path, names.size === 0 ? 'no rows and no sweep name' : `rows of several sweeps: ${[...names].join(', ')}`);
  return [...names][0]!;
}

/** One line for a directory with damaged parts: which files, why, and what to do. */
export function damagedPartsError(dir: string, damaged: readonly DamagedPart[]): SweepStoreError {
  const list = damaged.map((d) => `${d.name} (${d.reason})`).join('; ');
  const n = damaged.length;
  return new SweepStoreError(
    `${dir}: ${n} part file${n === 1 ? '' : 's'} cannot be used: ${list}; ` +
      `\`hessweep status ${dir} --quarantine\` moves ${n === 1 ? 'it' : 'them'} into quarantine/, and the next run computes ${n === 1 ? 'its' : 'their'} cells again`,
  );
}

/** Moves damaged parts into `quarantine/` (never deletes them); returns where each went. */
export async function quarantineParts(paths: SweepPaths, damaged: readonly DamagedPart[]): Promise<string[]> {
  if (damaged.length === 0) return [];
  await mkdir(paths.quarantine, { recursive: true });
  const moved: string[] = [];
  for (const part of damaged) {
    let target = join(paths.quarantine, part.name);
    for (let n = 1; existsSync(target); n++) target = join(paths.quarantine, `${part.name}.${n}`);
    await rename(part.path, target);
    moved.push(target);
  }
  return moved;
}

/** Removes the temp files a killed writer left in `parts/` (names from scanParts). */
export async function removeTemps(partsDir: string, temps: readonly string[]): Promise<void> {
  await Promise.all(temps.map((name) => rm(join(partsDir, name), { force: true, recursive: true })));
}

/** A sweep directory opened for reading: its manifest (when it has one) and its checked part files. */
export interface SweepReadView {
  paths: SweepPaths;
  manifest: Manifest | null;
  parts: string[];
}

/**
 * Opens a sweep directory for reading (aggregate, report, export): `dir` must be a directory with parts; a
 * manifest is required when `requireManifest`. Damaged or foreign parts are refused, naming each file.
 */
export async function openSweepForReading(dir: string, { requireManifest = false } = {}): Promise<SweepReadView> {
  if (!existsSync(dir)) throw new SweepStoreError(`${dir}: no such directory; give a sweep directory, <out>/<sweep>`);
  if (!statSync(dir).isDirectory()) throw new SweepStoreError(`${dir}: not a directory; give a sweep directory, <out>/<sweep>`);
  // The parts folder itself is accepted too (`results/quick/parts`), and a bare folder of part files.
  const nested = join(dir, 'parts');
  const partsDir = existsSync(nested) && statSync(nested).isDirectory() ? nested : dir;
  const sweepDir = partsDir === dir && basename(dir) === 'parts' ? dirname(dir) : dir;
  const paths = { ...sweepPaths(sweepDir), parts: partsDir };
  const manifest = await readManifest(paths.manifest);
  if (!manifest && requireManifest) throw new SweepStoreError(`${sweepDir}: no manifest.json here; give a sweep directory, <out>/<sweep>`);
  const scan = await scanParts(paths.parts, manifest ? { sweep: manifest.sweep, specHashes: manifest.spec_hashes } : {});
  if (scan.damaged.length > 0) throw damagedPartsError(sweepDir, scan.damaged);
  if (scan.parts.length === 0) {
    throw new SweepStoreError(`${paths.parts}: no result part files (part-*.arrow) here; give a sweep directory, <out>/<sweep>, after a run has written results`);
  }
  return { paths, manifest, parts: scan.parts };
}

// ---------------------------------------------------------------------------------------------------------
// Which row stands for a cell

/** Per row of each part: 0 superseded (or a duplicate), 1 the winning ok row, 2 the winning failed row. */
export const ROW_LOST = 0;
export const ROW_OK = 1;
export const ROW_FAILED = 2;

export interface Winners {
  /** masks[p][i]: ROW_LOST, ROW_OK or ROW_FAILED for row i of part p. */
  masks: Uint8Array[];
  cells: number;
}

/**
 * A 32-bit hash of bytes: FNV-1a (from `seed`, its offset basis by default), then murmur3's finaliser so the low
 * bits (a probe start, a sample's order) are well mixed.
 */
export function hashBytes(bytes: Uint8Array, start: number, end: number, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/** The cell ids of one record batch, as read: their bytes and offsets, and where the batch's rows are. */
interface IdSegment {
  bytes: Uint8Array;
  offsets: Int32Array;
  part: number;
  base: number;
}

/**
 * Called when a row stops standing for its cell: row `row` of folded part `part`, whose state was `state`
 * (ROW_OK or ROW_FAILED), superseded by row `by` of the part being folded.
 */
export type Superseded = (part: number, row: number, state: number, by: number) => void;

/**
 * THE rule for which row stands for a cell, used by every reader of a sweep: **the last ok row; a cell with no
 * ok row is represented by its last failed row.** "Last" is in part-file name order (names begin with the
 * write time), then row order within a file. Parts are folded one at a time, in name order (findWinners folds
 * a whole directory; `report --watch` folds parts as they land). Only the `cell_id` and `status` columns are
 * needed. The ids are deduplicated with an open-addressing hash table over their bytes (typed arrays, no
 * string per row): about 30 bytes per distinct cell; a 1,000,000-row sweep takes a fraction of a second.
 */
export class WinnerTable implements Winners {
  /** masks[p]: ROW_LOST, ROW_OK or ROW_FAILED for each row of folded part p, kept current as later parts fold. */
  readonly masks: Uint8Array[] = [];
  /** Distinct cells folded. */
  cells = 0;
  private readonly segments: IdSegment[] = [];
  private capacity = 1 << 16;
  private slotSegment = new Int32Array(this.capacity).fill(-1);
  private slotRow = new Int32Array(this.capacity);
  private slotHash = new Int32Array(this.capacity);
  private slotOk = new Uint8Array(this.capacity);

  /**
   * Folds the next part (named after every part folded so far) from its `cell_id` and `status` columns: returns
   * its mask (also masks[part], part = the number of parts folded before it) and calls `superseded` for every
   * earlier row, of this part or an earlier one, that one of its rows replaces.
   */
  foldPart(path: string, batches: readonly ColumnBatch[], superseded?: Superseded): Uint8Array {
    const part = this.masks.length;
    const mask = new Uint8Array(batches.reduce((sum, b) => sum + b.numRows, 0));
    this.masks.push(mask);
    let base = 0;
    for (const batch of batches) {
      this.foldBatch(path, batch, part, base, superseded);
      base += batch.numRows;
    }
    return mask;
  }

  private foldBatch(path: string, batch: ColumnBatch, part: number, base: number, superseded: Superseded | undefined): void {
    const mask = this.masks[part]!;
    const ids = batch.columns.get('cell_id')!;
    const idBytes = ids.values as Uint8Array;
    const idOffsets = ids.valueOffsets as Int32Array;
    const status = batch.columns.get('status')!;
    const statusBytes = status.values as Uint8Array;
    const statusOffsets = status.valueOffsets as Int32Array;
    const segment = this.segments.length;
    this.segments.push({ bytes: idBytes, offsets: idOffsets, part, base });
    for (let j = 0; j < batch.numRows; j++) {
      if (!ids.getValid(j)) throw new ResultFileError(path, `row ${base + j} has no cell_id`);
      const so = statusOffsets[j]!;
      const ok = statusOffsets[j + 1]! - so === 2 && statusBytes[so] === 0x6f && statusBytes[so + 1] === 0x6b; // 'ok'
      const start = idOffsets[j]!;
      const end = idOffsets[j + 1]!;
      const hash = hashBytes(idBytes, start, end);
      const at = this.find(hash, idBytes, start, end);
      const found = this.slotSegment[at] !== -1;
      if (found) {
        if (!ok && this.slotOk[at] === 1) continue; // a failure after success: the ok row stands (mask stays 0)
        const previous = this.segments[this.slotSegment[at]!]!;
        const row = previous.base + this.slotRow[at]!;
        const state = this.masks[previous.part]![row]!;
        this.masks[previous.part]![row] = ROW_LOST;
        superseded?.(previous.part, row, state, base + j);
      } else {
        this.cells++;
      }
      this.slotSegment[at] = segment;
      this.slotRow[at] = j;
      this.slotHash[at] = hash;
      this.slotOk[at] = ok ? 1 : 0;
      mask[base + j] = ok ? ROW_OK : ROW_FAILED;
      if (!found && 2 * this.cells > this.capacity) this.grow();
    }
  }

  /** The slot holding the id bytes[start, end), or the empty slot where it goes. */
  private find(hash: number, bytes: Uint8Array, start: number, end: number): number {
    const mod = this.capacity - 1;
    let at = hash & mod;
    while (this.slotSegment[at] !== -1) {
      if (this.slotHash[at] === hash) {
        const other = this.segments[this.slotSegment[at]!]!;
        const os = other.offsets[this.slotRow[at]!]!;
        let same = other.offsets[this.slotRow[at]! + 1]! - os === end - start;
        for (let i = 0; same && i < end - start; i++) same = other.bytes[os + i] === bytes[start + i];
        if (same) return at;
      }
      at = (at + 1) & mod;
    }
    return at;
  }

  private grow(): void {
    const [oldSegment, oldRow, oldHash, oldOk] = [this.slotSegment, this.slotRow, this.slotHash, this.slotOk];
    this.capacity *= 2;
    this.slotSegment = new Int32Array(this.capacity).fill(-1);
    this.slotRow = new Int32Array(this.capacity);
    this.slotHash = new Int32Array(this.capacity);
    this.slotOk = new Uint8Array(this.capacity);
    for (let i = 0; i < oldSegment.length; i++) {
      if (oldSegment[i] === -1) continue;
      let at = oldHash[i]! & (this.capacity - 1);
      while (this.slotSegment[at] !== -1) at = (at + 1) & (this.capacity - 1);
      this.slotSegment[at] = oldSegment[i]!;
      this.slotRow[at] = oldRow[i]!;
      this.slotHash[at] = oldHash[i]!;
      this.slotOk[at] = oldOk[i]!;
    }
  }
}

/** Which row stands for each cell of `paths` (part files in name order): WinnerTable's rule over all of them. */
export async function findWinners(paths: readonly string[]): Promise<WinnerTable> {
  const table = new WinnerTable();
  const reads = prefetch(paths.length, (p) => readColumns(paths[p]!, ['cell_id', 'status']));
  for (let p = 0; p < paths.length; p++) table.foldPart(paths[p]!, await reads.get(p));
  return table;
}

/** The winning rows' batches, part by part: `columns` of each record batch and the winners' mask over its rows. */
export interface WinningBatch {
  part: number;
  batch: ColumnBatch;
  /** ROW_OK / ROW_FAILED for the rows that stand for their cell, ROW_LOST for the others. */
  mask: Uint8Array;
}

/** Streams `columns` of every part that holds a winning row (reading ahead while the caller works). */
export async function* winningBatches(paths: readonly string[], winners: Winners, columns: readonly ColumnName[]): AsyncGenerator<WinningBatch> {
  const reads = prefetch(paths.length, (p) =>
    winners.masks[p]!.some((m) => m !== ROW_LOST) ? readColumns(paths[p]!, columns) : Promise.resolve([] as ColumnBatch[]), 2);
  for (let p = 0; p < paths.length; p++) {
    let base = 0;
    for (const batch of await reads.get(p)) {
      yield { part: p, batch, mask: winners.masks[p]!.subarray(base, base + batch.numRows) };
      base += batch.numRows;
    }
  }
}

/** Reads only `names` from one part file (see IpcFileReader.columns). */
export async function readColumns(path: string, names: readonly ColumnName[]): Promise<ColumnBatch[]> {
  const reader = await IpcFileReader.open(path);
  try {
    return await reader.columns(names);
  } finally {
    await reader.close();
  }
}

/** Items of some rows (ascending row numbers) of a list<float64> column of one part file (see IpcFileReader.listRows). */
export async function readListRows(path: string, name: ColumnName, rows: readonly number[]): Promise<(Float64Array | null)[]> {
  const reader = await IpcFileReader.open(path);
  try {
    return await reader.listRows(name, rows);
  } finally {
    await reader.close();
  }
}

/**
 * Starts up to `ahead` reads before they are needed (the disk and the thread pool work while this thread
 * computes), in order; `get(i)` waits for read i and starts the next ones.
 */
function prefetch<T>(count: number, start: (i: number) => Promise<T>, ahead = 4): { get: (i: number) => Promise<T> } {
  const pending = new Map<number, Promise<T>>();
  let next = 0;
  const fill = (upTo: number) => {
    for (; next < count && next <= upTo; next++) {
      const promise = start(next);
      promise.catch(() => undefined); // reported when awaited
      pending.set(next, promise);
    }
  };
  return {
    get(i: number) {
      fill(i + ahead);
      const promise = pending.get(i)!;
      pending.delete(i);
      return promise;
    },
  };
}

export type CellState = 'ok' | 'failed';

/** The state of every cell with a row: that of the row standing for it (findWinners). */
export async function cellStates(paths: readonly string[]): Promise<Map<string, CellState>> {
  const winners = await findWinners(paths);
  const states = new Map<string, CellState>();
  for await (const { batch, mask } of winningBatches(paths, winners, ['cell_id'])) {
    const ids = batch.columns.get('cell_id')!;
    const bytes = utf8Bytes(ids);
    for (let j = 0; j < batch.numRows; j++) {
      if (mask[j] !== ROW_LOST) states.set(utf8At(ids, bytes, j)!, mask[j] === ROW_OK ? 'ok' : 'failed');
    }
  }
  return states;
}

/** A whole part file, decoded, its checksum and schema checked; a version-1 file comes in the current schema's types. */
export async function readPartTable(path: string): Promise<Table> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new PartGoneError(path, { cause: err });
    throw new ResultFileError(path, `cannot read result file: ${describeCause(err)}`, { cause: err });
  }
  return withCurrentTypes(decodeResultFile(path, bytes));
}
