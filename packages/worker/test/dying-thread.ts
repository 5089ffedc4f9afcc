/**
 * A worker-thread entry for tests: the real cell thread, plus a listener that ends the thread with exit code 1
 * when a request matches `killsThread`. The real listener is registered first, so the cell has started when the
 * thread dies. Outside a worker thread (the test runner loads every file under test/) it does nothing.
 */
import { parentPort } from 'node:worker_threads';
import type { CellRequest } from '../src/protocol.js';
import { killsThread } from './dying-cell.js';

if (parentPort) {
  await import('../src/thread.js');
  parentPort.on('message', (request: CellRequest) => {
    if (killsThread(request)) process.exit(1);
  });
}
