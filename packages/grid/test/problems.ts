/** What the spec tests share. */
import assert from 'node:assert/strict';
import { SpecError } from '../src/index.js';

/** The problems of the SpecError that `fn` throws (failing when it throws anything else or nothing). */
export function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof SpecError, `expected a SpecError, got ${String(error)}`);
    return error.problems;
  }
  assert.fail('expected a SpecError, nothing was thrown');
}
