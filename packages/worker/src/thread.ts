/** Entry of a worker thread: runs the cells its slot sends, one at a time, each on this thread's own tfjs backend. */
import { parentPort } from 'node:worker_threads';
import { runCell } from '@hessweep/landscape';
import type { CellRequest, CellReply } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('thread.js runs only as a worker thread');

port.on('message', async (request: CellRequest) => {
  let reply: CellReply;
  try {
    reply = { id: request.id, row: await runCell(request.cell, { context: request.context }) };
  } catch (error) {
    const e = error as Error;
    reply = { id: request.id, error: `${e.name ?? 'Error'}: ${e.message ?? String(error)}` };
  }
  port.postMessage(reply);
});
