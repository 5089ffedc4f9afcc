import { Arena, instantiateKernels, KernelError, type KernelExports, type WasmMemory } from './module.js';

export { KernelError, type WasmMemory } from './module.js';
export { CurvatureProducts, type NetworkAt, type OutputAt } from './curvature.js';
export { FusedTrainer, type FusedShape, type AdamSettings, type HostParams } from './trainer.js';

/** A row-major float32 matrix living in the module's memory; its view is rebuilt on access since growth detaches buffers. */
export class Slot {
  constructor(
    private readonly memory: WasmMemory,
    readonly pointer: number,
    readonly rows: number,
    readonly cols: number,
  ) {}

  get values(): Float32Array {
    return new Float32Array(this.memory.buffer, this.pointer, this.rows * this.cols);
  }

  write(source: Float32Array): void {
    if (source.length !== this.rows * this.cols) throw new KernelError(`write: ${source.length} values into a ${this.rows}×${this.cols} slot`);
    this.values.set(source);
  }

  /** A copy, safe to keep after the arena is reset or grown. */
  read(): Float32Array {
    return this.values.slice();
  }
}

/**
 * The dense-layer products of one module instance, on a bump arena in its memory: allocate slots once,
 * write operands, call products, read results. Not shared across threads.
 */
export class DenseKernels {
  private readonly arena: Arena;

  constructor(private readonly exports: KernelExports) {
    this.arena = new Arena(exports);
  }

  allocate(rows: number, cols: number): Slot {
    return new Slot(this.exports.memory, this.arena.allocate(rows * cols * 4), rows, cols);
  }

  /** Frees every slot at once; earlier slots must not be used afterwards. */
  reset(): void {
    this.arena.release();
  }

  /** y = x·w (forward of a dense layer). */
  matMul(x: Slot, w: Slot, y: Slot): void {
    requireShapes('matMul', x.cols === w.rows && y.rows === x.rows && y.cols === w.cols, x, w, y);
    this.exports.matMulStrided(x.pointer, x.cols, 1, w.pointer, y.pointer, x.rows, x.cols, w.cols);
  }

  /** dw = xᵀ·dy (weight gradient), reading x transposed in place. */
  matMulTransposedA(x: Slot, dy: Slot, dw: Slot): void {
    requireShapes('matMulTransposedA', x.rows === dy.rows && dw.rows === x.cols && dw.cols === dy.cols, x, dy, dw);
    this.exports.matMulStrided(x.pointer, 1, x.cols, dy.pointer, dw.pointer, x.cols, x.rows, dy.cols);
  }

  /** dx = dy·wᵀ (input gradient). */
  matMulTransposedB(dy: Slot, w: Slot, dx: Slot): void {
    requireShapes('matMulTransposedB', dy.cols === w.cols && dx.rows === dy.rows && dx.cols === w.rows, dy, w, dx);
    this.exports.matMulTransposedB(dy.pointer, w.pointer, dx.pointer, dy.rows, dy.cols, w.rows);
  }
}

function requireShapes(product: string, fits: boolean, a: Slot, b: Slot, out: Slot): void {
  if (!fits) throw new KernelError(`${product}: shapes ${shape(a)}, ${shape(b)} → ${shape(out)} do not fit`);
}

function shape(slot: Slot): string {
  return `[${slot.rows}×${slot.cols}]`;
}

/** Instantiates the SIMD module from the package's dist folder; each call gives an independent memory. */
export async function loadKernels(): Promise<DenseKernels> {
  return new DenseKernels(instantiateKernels());
}
