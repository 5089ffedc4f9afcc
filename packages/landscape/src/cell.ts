import { HUTCHINSON_BATCH, NO_STAGE_SECONDS, identityColumns, type Cell, type RequestedContext, type ResultRow, type StageSeconds } from '@hessweep/grid';
import { useBackend } from './backend.js';
import { spectralNorm, theoremOneBound } from './bound.js';
import { Curvature, type ProductKind } from './curvature.js';
import { lossDifferenceCurve } from './curve.js';
import { loadDataset } from './data/load.js';
import { DIVERGED, requireFinite } from './measurement.js';
import { initParams, layerCount, mlpArchitecture, paramCount } from './model.js';
import { Rng } from './random.js';
import { slqNodes, slqQuadrature, smoothedDensity, type Quadrature } from './spectral/density.js';
import { measureStabilization, type StabilizationResult } from './stabilize.js';
import { lanczosLockstep, type LanczosResult } from './spectral/lanczos.js';
import { hutchinson } from './spectral/trace.js';
import { train, type Trainer } from './train.js';

export type Stage = 'load' | 'train' | 'losses' | 'curve' | 'spectrum' | 'trace' | 'density' | 'stabilization' | 'bound';

export interface StageEvent {
  stage: Stage;
  /** One line for a person: what finished and its headline number. */
  message: string;
  seconds: number;
}

export interface CellOptions {
  /** Provenance for the row; `backend` and `trainer` are choices, the row records what ran. */
  context: RequestedContext;
  onStage?: (event: StageEvent) => void;
  /** Called after each training epoch. */
  onEpoch?: (epoch: number, epochs: number, meanLoss: number) => void;
}

/** Stream offsets so that each stage draws from its own random sequence of the cell seed. */
const STREAM = { init: 0, train: 1, curve: 2, lanczos: 3, trace: 4, density: 5, subspaceDraws: 6, isotropicDraws: 7, quadraticDraws: 8 };

/** The hint for a measurement after training that is not finite though the training loss is. */
const OVERFLOW = "the network's curvature overflows float32: try a smaller lr or inputs of smaller magnitude";

/** Grid points of the stored density. */
const DENSITY_POINTS = 256;

function stream(seed: number, offset: number): Rng {
  return new Rng((seed * 0x9e3779b1 + offset * 0x85ebca6b) >>> 0);
}

/**
 * Runs one cell: trains the network, then measures per-sample losses, the loss-difference curve, the top of
 * the Hessian and Gauss-Newton spectra (Lanczos, both operators sharing each data pass), the exact trace (and
 * a Hutchinson estimate when probes are asked for), the spectral density of the Hessian from fixed-length SLQ
 * runs of its own, and the Theorem 1 bound. Errors propagate; the caller decides whether a failure becomes a `failed` row. A measurement
 * that comes out NaN or infinite is a MeasurementError naming it, never an `ok` row.
 */
export async function runCell(cell: Cell, options: CellOptions): Promise<ResultRow> {
  if (!(Number.isInteger(cell.sample_size) && cell.sample_size >= 2)) throw new RangeError(`sample_size must be an integer ≥ 2, got ${cell.sample_size}`);
  const backend = await useBackend(options.context.backend);
  const seconds: StageSeconds = { ...NO_STAGE_SECONDS };
  const started = performance.now();
  let mark = started;
  const lap = (): number => {
    const now = performance.now();
    const s = (now - mark) / 1000;
    mark = now;
    return s;
  };
  const report = (stage: Stage, message: string, s: number) => options.onStage?.({ stage, message, seconds: s });

  const data = await loadDataset(cell.dataset, cell.data, cell.sample_size);
  seconds.load_s = lap();
  report('load', `${data.n} samples × ${data.dim} features, ${data.classes} classes from ${data.source}`, seconds.load_s);

  const arch = mlpArchitecture(data.dim, cell.width, cell.depth, data.classes, cell.train.bias);
  const params = initParams(arch, cell.train.init, stream(cell.seed, STREAM.init));
  const trainer = await train(data, arch, params, {
    epochs: cell.train.epochs,
    batchSize: cell.train.batch_size,
    lr: cell.train.lr,
    rng: stream(cell.seed, STREAM.train),
    trainer: options.context.trainer,
    onEpoch: (epoch, loss) => options.onEpoch?.(epoch, cell.train.epochs, loss),
  });
  seconds.train_s = lap();
  report('train', `${cell.train.epochs} epochs of ${paramCount(arch)} parameters`, seconds.train_s);

  const curvature = new Curvature(arch, params, data);
  try {
    const trainLoss = curvature.meanLoss();
    // Checked before anything is computed from them; `train` already stops at a non-finite epoch loss.
    requireFinite({ train_loss: trainLoss, losses: curvature.losses }, DIVERGED);
    seconds.losses_s = lap();
    report('losses', `train loss ${trainLoss.toFixed(4)}, accuracy ${(curvature.accuracy * 100).toFixed(1)}%`, seconds.losses_s);

    // Kept: the stabilization stage averages over the same permutations as D_k.
    const curveRng = stream(cell.seed, STREAM.curve);
    const orders = Array.from({ length: cell.measure.permutations }, () => curveRng.permutation(curvature.samples));
    let nextOrder = 0;
    const curve = lossDifferenceCurve(curvature.losses, { permutations: orders.length, points: cell.measure.curve_points, permutation: () => orders[nextOrder++] });
    // The fit needs two stored k ≥ 10 with D_k > 0: a small sample (or very few curve points) has none. Its
    // slope is then null, not a failure (a non-finite D_k is caught on its own below).
    const slope = Number.isNaN(curve.slope) ? null : curve.slope;
    seconds.curve_s = lap();
    report('curve', `D_k at ${curve.k.length} k, slope ${slope === null ? 'not fitted (fewer than two k ≥ 10)' : slope.toFixed(3)}`, seconds.curve_s);

    let hessian: LanczosResult | null = null;
    let ggn: LanczosResult | null = null;
    if (cell.measure.top_k > 0) {
      const kinds: ProductKind[] = cell.measure.ggn ? ['hessian', 'ggn'] : ['hessian'];
      const results = lanczosLockstep(
        (vectors, processes) => curvature.products(vectors, processes.map((p) => kinds[p])),
        kinds.map(() => curvature.dim),
        {
          k: cell.measure.top_k, maxIters: cell.measure.lanczos_iters, tol: cell.measure.lanczos_tol, rng: stream(cell.seed, STREAM.lanczos),
          // The Hessian's top Ritz vectors span the stabilization probes' subspace.
          vectors: kinds.map((kind) => (kind === 'hessian' ? Math.min(cell.measure.stabilization.subspace, cell.measure.top_k) : 0)),
        },
      );
      [hessian, ggn = null] = results;
      requireFinite({ hessian_top: hessian.values, ggn_top: ggn?.values }, OVERFLOW);
      // Both operators share each pass; split the time by the products each one used.
      const spent = lap();
      const total = results.reduce((s, r) => s + r.iterations, 0);
      seconds.hessian_s = (spent * results[0].iterations) / total;
      seconds.ggn_s = spent - seconds.hessian_s;
      report('spectrum', `λ_max(H) ${hessian.values[0].toPrecision(6)}${ggn ? `, λ_max(G) ${ggn.values[0].toPrecision(6)}` : ''} (${hessian.iterations}${ggn ? `/${ggn.iterations}` : ''} Lanczos steps)`, spent);
    }

    const trace = curvature.exactTrace();
    const estimate =
      cell.measure.trace_probes > 0
        ? hutchinson(curvature.operator('hessian'), { probes: cell.measure.trace_probes, batch: HUTCHINSON_BATCH, rng: stream(cell.seed, STREAM.trace) })
        : null;
    seconds.trace_s = lap();
    report('trace', `tr H = tr G = ${trace.toPrecision(6)}${estimate ? ` (Hutchinson ${estimate.estimate.toPrecision(6)} ± ${estimate.standardError.toPrecision(2)})` : ''}`, seconds.trace_s);

    const { density: wanted, density_runs: runs, density_steps: steps } = cell.measure;
    let density: { x: number[]; y: number[] } | null = null;
    const reused = wanted && runs > 0 ? leadingRun(hessian, steps) : [];
    if (wanted && runs > 0) {
      const quadrature = [...reused];
      if (quadrature.length < runs) quadrature.push(...slqQuadrature(curvature.operator('hessian'), { runs: runs - quadrature.length, steps, rng: stream(cell.seed, STREAM.density) }));
      requireFinite({ density_nodes: quadrature.flatMap((q) => Array.from(q.nodes)) }, OVERFLOW);
      const smoothed = smoothedDensity(quadrature, { points: DENSITY_POINTS });
      density = { x: Array.from(smoothed.x), y: Array.from(smoothed.y) };
    }
    seconds.density_s = lap();
    if (density) report('density', `SLQ density on ${density.x.length} points from ${runs} runs × ${steps} Lanczos steps of the Hessian (${reused.length > 0 ? "one: the top-k run's first steps" : 'all of their own'})`, seconds.density_s);

    const stabilization = measureStabilization({
      curvature, orders, k: curve.k, ritzVectors: hessian?.vectors ?? [], settings: cell.measure,
      draws: { subspace: stream(cell.seed, STREAM.subspaceDraws), isotropic: stream(cell.seed, STREAM.isotropicDraws), quadratic: stream(cell.seed, STREAM.quadraticDraws) },
    });
    seconds.stabilization_s = lap();
    report('stabilization', stabilizationMessage(stabilization), seconds.stabilization_s);

    const mW = Math.max(...params.weights.map((w, p) => spectralNorm(w, arch.sizes[p], arch.sizes[p + 1])));
    const mX = curvature.maxInputNorm();
    const bound = theoremOneBound(layerCount(arch), mW, mX);
    seconds.bound_s = lap();
    report('bound', `Theorem 1 bound ${bound.toPrecision(4)} (M_W ${mW.toFixed(3)}, M_x ${mX.toFixed(3)})`, seconds.bound_s);
    seconds.total_s = (performance.now() - started) / 1000;
    requireFinite(
      {
        hessian_trace: trace,
        hessian_trace_hutchinson: estimate?.estimate,
        hessian_trace_se: estimate?.standardError,
        loss_diff: curve.d,
        loss_diff_slope: slope ?? undefined,
        hessian_residuals: hessian?.residuals,
        ggn_residuals: ggn?.residuals,
        density_x: density?.x,
        density_y: density?.y,
        loss_diff_smooth: stabilization.lossDiffSmooth,
        delta2_iso: stabilization.probes?.isotropic,
        delta2_sub: stabilization.probes?.direct,
        delta2_sub_quad: stabilization.probes?.quadratic,
        delta2_sub_gm: stabilization.probes?.gaussianMoment,
        m_w: mW,
        m_x: mX,
      },
      OVERFLOW,
    );
    requireFinite({ bound }, `M_W^(2L) with M_W ${mW.toPrecision(4)} and L ${layerCount(arch)} layers overflows float64`);

    return {
      ...identityColumns(cell, { ...options.context, backend: trainedOn(backend, trainer) }),
      ...seconds,
      status: 'ok',
      error: null,
      n_params: curvature.dim,
      train_loss: trainLoss,
      train_accuracy: curvature.accuracy,
      loss_diff_k: Array.from(curve.k),
      loss_diff: Array.from(curve.d),
      loss_diff_slope: slope,
      hessian_top: hessian?.values ?? null,
      hessian_residuals: hessian?.residuals ?? null,
      hessian_iters: hessian?.iterations ?? null,
      ggn_top: ggn?.values ?? null,
      ggn_residuals: ggn?.residuals ?? null,
      ggn_iters: ggn?.iterations ?? null,
      hessian_trace: trace,
      ggn_trace: trace,
      hessian_trace_hutchinson: estimate?.estimate ?? null,
      hessian_trace_se: estimate?.standardError ?? null,
      density_x: density?.x ?? null,
      density_y: density?.y ?? null,
      bound,
      m_w: mW,
      m_x: mX,
      ...stabilizationColumns(stabilization, cell.measure),
      finished_at: new Date().toISOString(),
    };
  } finally {
    curvature.dispose();
  }
}

/**
 * The top-k Hessian run's first `steps` steps as an SLQ run: a Lanczos run from a random start whose leading
 * steps × steps block of T is exactly the tridiagonal of a `steps`-step run from that start. Empty when there
 * is no such run or it stopped earlier (converged, or an invariant subspace), so every SLQ run has `steps` steps.
 */
function leadingRun(hessian: LanczosResult | null, steps: number): Quadrature[] {
  if (hessian === null || hessian.iterations < steps) return [];
  return [slqNodes(hessian.alpha.subarray(0, steps), hessian.beta.subarray(0, steps - 1))];
}

/** The stage's headline: the sufficient sample size of smoothed D_k at the first threshold, and the probes run. */
function stabilizationMessage(result: StabilizationResult): string {
  const n = result.sufficientD1[0] ?? result.sufficientD1Fit[0];
  const size = n === null ? 'not reached' : result.sufficientD1[0] !== null ? `k = ${n}` : `k ≈ ${Math.round(n)} (extrapolated)`;
  const probes = result.probes ? `; Δ2 probed in a ${result.probes.subspace}-dimensional subspace${result.probes.isotropic ? ' and the full space' : ''}` : '';
  return `smoothed D_k sufficient sample size ${size}${probes}`;
}

/** The row's stabilization columns (docs/stabilization.md); the probe columns null when the probes did not run. */
function stabilizationColumns(result: StabilizationResult, measure: Cell['measure']) {
  const probes = result.probes;
  return {
    loss_diff_smooth: result.lossDiffSmooth,
    stab_subspace: probes?.subspace ?? null,
    stab_sigma: probes ? [...measure.stabilization.sigma] : null,
    delta2_iso: probes?.isotropic ?? null,
    delta2_sub: probes?.direct ?? null,
    delta2_sub_quad: probes?.quadratic ?? null,
    delta2_sub_gm: probes?.gaussianMoment ?? null,
    stab_thresholds: [...measure.thresholds],
    n_suff_d1: result.sufficientD1,
    n_suff_d1_fit: result.sufficientD1Fit,
    n_suff_d2: probes?.sufficientD2 ?? null,
    n_suff_d2_fit: probes?.sufficientD2Fit ?? null,
  };
}

/** The row's `backend` column: the tfjs backend, with `+fused` when the fused WebAssembly step trained, so rows of either trainer stay distinguishable. */
export function trainedOn(backend: string, trainer: Trainer): string {
  return trainer === 'fused' ? `${backend}+fused` : backend;
}
