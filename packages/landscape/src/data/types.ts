/** A labelled dataset in memory: row-major inputs scaled to [-1, 1], one row per sample. */
export interface Dataset {
  /** n × dim, row-major. */
  x: Float32Array;
  /** n labels in [0, classes). */
  y: Int32Array;
  n: number;
  dim: number;
  classes: number;
  /** Human-readable origin (file paths or package), for provenance and error messages. */
  source: string;
}

/** A data file that is missing, truncated or malformed; the message names the file and the problem. */
export class DataError extends Error {
  override name = 'DataError';
}
