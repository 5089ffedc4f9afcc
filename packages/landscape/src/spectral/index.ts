export { denseOperator, type LinearOperator } from './operator.js';
export { symmetricEigenvalues, tridiagonalEigen, type TridiagonalEigen } from './eigen.js';
export {
  lanczos,
  lanczosLockstep,
  type BatchedApply,
  type LanczosOptions,
  type LanczosResult,
  type LanczosSettings,
  type LockstepOptions,
} from './lanczos.js';
export { hutchinson, type TraceEstimate } from './trace.js';
export { slqDensity, slqNodes, slqQuadrature, smoothedDensity, type Density, type Quadrature, type SmoothingOptions } from './density.js';
