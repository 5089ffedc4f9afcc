import { tf } from './backend.js';

/**
 * Direct kernel calls for the training loop's small products. `tf.matMul` reshapes both operands to 3-D,
 * validates and reshapes back on every call: ~15 µs for a 64×16·16×16 product on wasm, against ~4–6 µs for
 * the kernel itself. Operands here are already 3-D ([1, rows, cols]), the shape every backend's kernel takes.
 */
export type Matrix = tf.Tensor3D;

export function matrix(values: Float32Array, rows: number, cols: number): Matrix {
  return tf.tensor3d(values, [1, rows, cols]);
}

/** a·b. Transpose flags are not offered: on wasm they cost 3–10× the product even for 64×16 operands. */
export function matMul(a: Matrix, b: Matrix): Matrix {
  return tf.engine().runKernel(tf.BatchMatMul, { a, b }, { transposeA: false, transposeB: false }) as Matrix;
}

/** xᵀ, materialised; meant for small operands. */
export function transpose(x: Matrix): Matrix {
  return tf.engine().runKernel(tf.Transpose, { x }, { perm: [0, 2, 1] }) as Matrix;
}

/** a·b + bias, then ReLU when `relu`. */
export function affine(a: Matrix, b: Matrix, bias: tf.Tensor1D | undefined, relu: boolean): Matrix {
  const inputs: tf.NamedTensorMap = bias ? { a, b, bias } : { a, b };
  return tf.engine().runKernel(tf._FusedMatMul, inputs, { transposeA: false, transposeB: false, activation: relu ? 'relu' : 'linear' }) as Matrix;
}

/** x ⊙ 1[a > 0]: the ReLU derivative applied to x, for post-activation values a ≥ 0. */
export function reluMask(x: Matrix, a: Matrix): Matrix {
  const mask = tf.engine().runKernel(tf.Step, { x: a }, { alpha: 0 }) as Matrix;
  return tf.engine().runKernel(tf.Multiply, { a: x, b: mask }) as Matrix;
}

export function columnSums(x: Matrix): tf.Tensor {
  return tf.sum(x, 1);
}
