import { FLOAT32_MAX, LIMITS } from '@hessweep/grid';
import { DataError } from './types.js';

/**
 * The bounds (grid's LIMITS) that only the data can be checked against: the shape of a file is known once its
 * header is read, and is checked then, before anything the size of the data is allocated.
 */

/** ±3.4e38, as error messages show the float32 range. */
const FLOAT32_RANGE = `±${FLOAT32_MAX.toExponential(1).replace('e+', 'e')}`;

/** Whether a number stays finite as a float32 (tfjs holds data and weights as float32). */
export function fitsFloat32(value: number): boolean {
  return Math.abs(value) <= FLOAT32_MAX;
}

/** "<shown> is beyond the float32 range (±3.4e38)", for a value that `fitsFloat32` refuses. */
export function beyondFloat32(shown: string): string {
  return `${shown} is beyond the float32 range (${FLOAT32_RANGE})`;
}

/** Whether a label can be a class index: an integer in [0, LIMITS.classes). */
export function isClassLabel(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < LIMITS.classes;
}

/** "an integer in [0, 1000)", what `isClassLabel` accepts. */
export const CLASS_LABEL_RANGE = `an integer in [0, ${LIMITS.classes}) (at most ${LIMITS.classes} classes)`;

/** Refuses more input features per sample than LIMITS.input_dim; `source` names the file. */
export function checkInputDim(source: string, dim: number, what = 'features per sample'): void {
  if (dim > LIMITS.input_dim) throw new DataError(`${source}: ${dim} ${what}; at most ${LIMITS.input_dim} are supported`);
}

/** Refuses an n × dim sample matrix larger than LIMITS.batch_floats before it is allocated. */
export function checkSampleMatrix(source: string, n: number, dim: number): void {
  if (n * dim > LIMITS.batch_floats) {
    throw new DataError(
      `${source}: ${n} samples × ${dim} features is ${n * dim} floats, more than the ${LIMITS.batch_floats} one cell may hold; use a smaller sample_size`,
    );
  }
}
