// The module's entry: dense-layer products, the fused training step and the curvature products. Nothing
// here allocates (built with --runtime stub): the host lays out its arena from heapBase() up and grows the
// memory itself.

export { matMulStrided, matMulStridedAdd, matMulTransposedB } from './products';
export { trainStep } from './train';
export { backwardDeltas, curvatureProducts, forwardLogits, gradientAt, projectedTerms, traceTerms } from './curvature';

/** First byte the host may use: everything below belongs to the module's static data. */
export function heapBase(): usize {
  return __heap_base;
}
