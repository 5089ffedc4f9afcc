/** Where layer p's W and b start in the flat parameters (W_0, b_0, W_1, …; W_p row-major [fan_in][fan_out]). */
export interface LayerOffsets {
  weight: number;
  /** Where b_p would start; only meaningful when the network has biases. */
  bias: number;
}

/** The flat parameter layout both modules read: each layer's offsets and the parameter count. */
export function parameterLayout(sizes: readonly number[], bias: boolean): { offsets: LayerOffsets[]; count: number } {
  const offsets: LayerOffsets[] = [];
  let at = 0;
  for (let p = 0; p + 1 < sizes.length; p++) {
    const w = sizes[p]! * sizes[p + 1]!;
    offsets.push({ weight: at, bias: at + w });
    at += w + (bias ? sizes[p + 1]! : 0);
  }
  return { offsets, count: at };
}
