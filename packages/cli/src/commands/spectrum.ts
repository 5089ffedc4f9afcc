import type { Argv } from 'yargs';
import { readFile } from 'node:fs/promises';
import { BACKENDS, type BackendChoice } from '@hessweep/grid';
import { DENSE_LIMIT, DataError, paramCount, parseProblem, spectrum, useBackend, type SpectrumReport } from '@hessweep/landscape';

export function spectrumOptions(y: Argv) {
  return y
    .option('problem', { type: 'string', demandOption: true, describe: 'problem JSON: {"layers": [W1, …], "x": [[…]], "y": […], "classes": K}' })
    .option('top-k', { type: 'number', default: 5, describe: 'top eigenvalues of H and G' })
    .option('dense', { type: 'boolean', default: false, describe: 'assemble the full matrices (≤ 3000 parameters): all eigenvalues, exact traces' })
    .option('json', { type: 'boolean', default: false, describe: 'one JSON object on stdout' })
    .option('backend', { type: 'string', choices: BACKENDS, default: 'auto' as BackendChoice });
}

type SpectrumArgs = Awaited<ReturnType<typeof spectrumOptions>['argv']>;

export async function spectrumCommand(args: SpectrumArgs): Promise<number> {
  let text: string;
  try {
    text = await readFile(args.problem, 'utf8');
  } catch (error) {
    throw new DataError(`${args.problem}: cannot read the problem file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DataError(`${args.problem}: not valid JSON (${(error as Error).message})`);
  }
  const problem = parseProblem(json, args.problem);
  const params = paramCount(problem.arch);
  if (args.dense && params > DENSE_LIMIT) throw new DataError(`${args.problem}: --dense needs at most ${DENSE_LIMIT} parameters, this problem has ${params}`);
  if (!(Number.isInteger(args['top-k']) && args['top-k'] > 0)) throw new DataError(`--top-k must be a positive integer, got ${args['top-k']}`);
  await useBackend(args.backend as BackendChoice);
  const report = spectrum(problem, { topK: args['top-k'], dense: args.dense });
  process.stdout.write(args.json ? `${JSON.stringify(report)}\n` : describe(report));
  return 0;
}

function describe(r: SpectrumReport): string {
  const fmt = (xs: number[]) => xs.map((v) => v.toPrecision(8)).join(', ');
  const lines = [
    `parameters        ${r.n_params}`,
    `Hessian top-k     ${fmt(r.hessian_top)}`,
    `GGN top-k         ${fmt(r.ggn_top)}`,
    `trace H, trace G  ${r.hessian_trace.toPrecision(8)}, ${r.ggn_trace.toPrecision(8)}`,
    r.hessian_eigenvalues ? `dense spectra     ${r.hessian_eigenvalues.length} eigenvalues each; λ_min(H) ${r.hessian_eigenvalues.at(-1)?.toPrecision(6)}, λ_min(G) ${r.ggn_eigenvalues?.at(-1)?.toPrecision(6)}` : `Lanczos steps     ${r.lanczos_iters.join(' (H), ')} (G)`,
  ];
  return `${lines.join('\n')}\n`;
}
