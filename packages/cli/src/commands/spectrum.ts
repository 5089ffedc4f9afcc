import type { Argv } from 'yargs';
import { readFile } from 'node:fs/promises';
import { BACKENDS, type BackendChoice } from '@hessweep/grid';
import type { Problem, SpectrumReport, SpectrumStabilization } from '@hessweep/landscape';

export function spectrumOptions(y: Argv) {
  return y
    .option('problem', { type: 'string', demandOption: true, describe: 'problem JSON: {"layers": [W1, …], "x": [[…]], "y": […], "classes": K}' })
    .option('top-k', { type: 'number', default: 5, describe: 'top eigenvalues of H and G' })
    .option('dense', { type: 'boolean', default: false, describe: 'assemble the full matrices (≤ 3000 parameters): all eigenvalues, exact traces' })
    .option('subspace', { type: 'number', describe: 'D: add delta1 and delta2_subspace_gm over k = 1..n−1 in the file\'s order, in the top-D Hessian Ritz subspace (D ≤ top-k; needs --sigma)' })
    .option('sigma', { type: 'number', describe: 'σ > 0 of the Gaussian probe z ~ N(0, σ² I_D) (with --subspace)' })
    .option('json', { type: 'boolean', default: false, describe: 'one JSON object on stdout' })
    .option('backend', { type: 'string', choices: BACKENDS, default: 'auto' as BackendChoice });
}

type SpectrumArgs = Awaited<ReturnType<typeof spectrumOptions>['argv']>;

export async function spectrumCommand(args: SpectrumArgs): Promise<number> {
  const { DENSE_LIMIT, DataError, paramCount, parseProblem, spectrum, useBackend } = await import('@hessweep/landscape');
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
  const stabilization = await stabilizationOptions(args, problem, params);
  await useBackend(args.backend as BackendChoice);
  const report = spectrum(problem, { topK: args['top-k'], dense: args.dense, stabilization });
  process.stdout.write(args.json ? `${JSON.stringify(report)}\n` : describe(report));
  return 0;
}

/** --subspace and --sigma checked together (undefined when neither is given); each refusal names the flag. */
async function stabilizationOptions(args: SpectrumArgs, problem: Problem, params: number): Promise<SpectrumStabilization | undefined> {
  const { DataError } = await import('@hessweep/landscape');
  const { subspace, sigma } = args;
  if (subspace === undefined) {
    if (sigma !== undefined) throw new DataError('--sigma needs --subspace D');
    return undefined;
  }
  if (!(Number.isInteger(subspace) && subspace > 0)) throw new DataError(`--subspace must be a positive integer, got ${subspace}`);
  if (subspace > args['top-k']) throw new DataError(`--subspace ${subspace} exceeds --top-k ${args['top-k']} (the subspace is spanned by top-k Ritz vectors)`);
  if (subspace > params) throw new DataError(`${args.problem}: --subspace ${subspace} exceeds the problem's ${params} parameters`);
  if (problem.n < 2) throw new DataError(`${args.problem}: --subspace needs at least 2 samples (rows of x), the problem has ${problem.n}`);
  if (sigma === undefined) throw new DataError('--subspace needs --sigma σ (the scale of the Gaussian probe)');
  if (!(sigma > 0 && Number.isFinite(sigma))) throw new DataError(`--sigma must be a positive finite number, got ${sigma}`);
  return { subspace, sigma };
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
  if (r.delta1 && r.delta2_subspace_gm && r.subspace_ritz_values) {
    const last = r.delta1.length;
    lines.push(
      `stabilization     D = ${r.subspace_ritz_values.length} (Ritz values ${fmt(r.subspace_ritz_values)}); at k = ${last}: Δ1 ${r.delta1[last - 1].toPrecision(6)}, Δ2 (top-D, Gaussian moment) ${r.delta2_subspace_gm[last - 1].toPrecision(6)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
