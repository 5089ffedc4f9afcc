/**
 * Module hooks for lazy-load.test.ts (registered with `node --import`): each module the process loads has its
 * URL appended, one a line, to the file HESSWEEP_LOAD_LOG names.
 */
import { appendFileSync } from 'node:fs';

type NextLoad = (url: string, context: unknown) => Promise<unknown>;

export async function load(url: string, context: unknown, nextLoad: NextLoad): Promise<unknown> {
  appendFileSync(process.env.HESSWEEP_LOAD_LOG!, `${url}\n`);
  return nextLoad(url, context);
}
