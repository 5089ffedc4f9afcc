/**
 * describeFailure tells errors apart by `name`, not by class (errors.ts imports no package): every error class
 * of the packages must still end the process as the project's rule says (bad input exit 2, a failed run exit 1),
 * printing its message as the one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpecError } from '@hessweep/grid';
import { BackendError, DataError, MeasurementError } from '@hessweep/landscape';
import { NatsConnectError, NoStreamsError, SweepClaimedError } from '@hessweep/queue';
import { PartGoneError, ResultFileError, StorageError, SweepOwnedError, SweepStoreError } from '@hessweep/results';
import { SweepError } from '@hessweep/coordinator';
import { AnalysisError } from '@hessweep/analysis';
import { describeFailure, UsageError } from '../src/errors.js';

const errno = (code: string) => Object.assign(new Error(`${code}: system message`), { code });

test('each bad-input error class of every package: its message, exit 2', () => {
  const errors = [
    new UsageError('--flag: bad'), new SpecError('spec.yaml', ['grid.width[0]: must be positive']), new DataError('data: bad'), new BackendError('no such backend'),
    new SweepError('sweep: bad'), new SweepStoreError('store: bad'), new SweepOwnedError('owned'), new SweepClaimedError('claimed'),
    new NatsConnectError('cannot connect'), new NoStreamsError('no streams'), new ResultFileError('part.arrow', 'damaged'),
    new PartGoneError('part.arrow'), new AnalysisError('--by: bad'),
  ];
  for (const error of errors) assert.deepEqual(describeFailure(error, false), { line: error.message, code: 2 }, error.constructor.name);
});

test('a computation that failed (MeasurementError) and a fault of the storage: exit 1; a storage path the operator got wrong: exit 2', () => {
  const measurement = new MeasurementError('Hessian not finite');
  assert.deepEqual(describeFailure(measurement, false), { line: measurement.message, code: 1 });
  const full = new StorageError('/out/parts', 'write part-1.arrow', errno('ENOSPC'));
  assert.deepEqual(describeFailure(full, false), { line: full.message, code: 1 });
  const denied = new StorageError('/out/parts', 'write part-1.arrow', errno('EACCES'));
  assert.deepEqual(describeFailure(denied, false), { line: denied.message, code: 2 });
});

test('what is not an Error is an internal error whatever its name; so is an Error of no known name', () => {
  // A plain object with a bad-input name is not an Error: an internal error, as when classes were compared.
  const r = describeFailure({ name: 'DataError', message: 'not an Error' }, false);
  assert.equal(r.code, 1);
  assert.match(r.line, /^internal error: /);
  const plain = describeFailure(new Error('something broke'), false);
  assert.deepEqual(plain, { line: 'internal error: Error: something broke (run with --debug for the stack)', code: 1 });
});
