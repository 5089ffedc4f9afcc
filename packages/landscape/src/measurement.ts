/** A measurement came out NaN or ±Infinity (training diverged, or a quantity overflowed); the message names it. */
export class MeasurementError extends Error {
  override name = 'MeasurementError';
}

/** Named measurements: a number, a list of numbers, or absent (not measured). */
export type Measurements = Record<string, number | ArrayLike<number> | null | undefined>;

/**
 * Throws a MeasurementError for the first measurement that is not finite, naming it (and the index in a
 * list), so that a NaN never reaches a result row or a report as if it were a number. `hint` says what to try.
 */
export function requireFinite(measurements: Measurements, hint: string): void {
  for (const [name, value] of Object.entries(measurements)) {
    if (value === null || value === undefined) continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new MeasurementError(`${name} is ${value} (${hint})`);
      continue;
    }
    for (let i = 0; i < value.length; i++) {
      if (!Number.isFinite(value[i])) throw new MeasurementError(`${name}[${i}] is ${value[i]} (${hint})`);
    }
  }
}

/** The hint when the training loss is not finite. */
export const DIVERGED = 'training diverged: try a smaller lr';
