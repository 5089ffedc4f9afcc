import type { Cell, RequestedContext, ResultRow } from '@hessweep/grid';

/** A cell for a worker thread to run. */
export interface CellRequest {
  id: number;
  cell: Cell;
  context: RequestedContext;
}

/** What the thread sends back: the row, or the error the cell threw. */
export type CellReply = { id: number; row: ResultRow; error?: undefined } | { id: number; error: string; row?: undefined };
