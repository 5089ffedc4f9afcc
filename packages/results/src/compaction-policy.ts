/** When and how far part files are merged (compact.ts); apart, with no imports, so that `hessweep compact --help` shows the defaults without loading Arrow. */
export interface CompactionPolicy {
  /** A finished compaction leaves at most targetParts / 2 parts, plus one per run of parts of one spec and version. */
  targetParts: number;
  /** A merged part gathers at least this many rows; the aim grows with the sweep, to 4 × rows / targetParts. */
  minPartRows: number;
  /** During a sweep, the newest small parts are merged once this many have gathered, */
  runParts: number;
  /** or once the oldest of them is this old (ms), so that a slow sweep does not pile up parts either. */
  maxAgeMs: number;
}

export const DEFAULT_COMPACTION_POLICY: Readonly<CompactionPolicy> = { targetParts: 200, minPartRows: 4096, runParts: 64, maxAgeMs: 60_000 };
