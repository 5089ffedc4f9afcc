export { useBackend, BackendError, type BackendName } from './backend.js';
export { MeasurementError } from './measurement.js';
export { runCell, type CellOptions, type Stage, type StageEvent } from './cell.js';
export { Curvature, type ProductKind, type ProductsChoice, type ProjectedDerivatives } from './curvature.js';
export { lossDifferenceCurve, logLogSlope, increments, type LossDifferenceCurve } from './curve.js';
export {
  IncrementMoments,
  EMA_ALPHA,
  emaSmooth,
  sufficientSampleSize,
  forEachQuadraticModel,
  quadraticInvariants,
  gaussianMoment,
  quadraticModelSeries,
  gaussianMomentSeries,
  quadraticMonteCarlo,
  type SampleSize,
  type ProjectedSamples,
  type Quadratic,
  type QuadraticInvariants,
  type QuadraticModelSeries,
  type MonteCarloEstimate,
} from './stabilization.js';
export { spectralNorm, theoremOneBound } from './bound.js';
export { mlpArchitecture, paramCount, paramOffsets, initParams, flattenParams, unflattenParams, type Architecture, type Params } from './model.js';
export { train, trainFused, trainTfjs, TfjsBatchGradients, type TrainOptions, type Trainer } from './train.js';
export { Adam } from './adam.js';
export { Rng } from './random.js';
export { loadDataset, DataError, FASHION_MNIST_DIR, type Dataset } from './data/index.js';
export { lanczos, lanczosLockstep, hutchinson, slqNodes, slqQuadrature, smoothedDensity, symmetricEigenvalues, denseOperator, type LinearOperator, type LanczosResult } from './spectral/index.js';
export { parseProblem, spectrum, DENSE_LIMIT, type Problem, type SpectrumReport, type SpectrumOptions, type SpectrumStabilization } from './problem.js';
