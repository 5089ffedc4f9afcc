// Element-wise helpers shared by the training step and the curvature products; float32, pointers are byte
// offsets into this module's memory.

@inline export function f32At(base: usize, index: i32): usize {
  return base + ((<usize>index) << 2);
}

/** Adds the row vector `bias` [cols] to every row of `out` [rows×cols]. */
export function addRowVector(out: usize, rows: i32, cols: i32, bias: usize): void {
  for (let r = 0; r < rows; r++) {
    const row = f32At(out, r * cols);
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const at = f32At(row, c);
      v128.store(at, f32x4.add(v128.load(at), v128.load(f32At(bias, c))));
    }
    for (; c < cols; c++) store<f32>(f32At(row, c), load<f32>(f32At(row, c)) + load<f32>(f32At(bias, c)));
  }
}

// values[i] stays where gate[i] > 0 and becomes 0 elsewhere (NaN gates too): ReLU (gate = values) and the
// mask of a gradient or tangent by its layer's ReLU output (gate = activation).
export function keepWherePositive(values: usize, gate: usize, length: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const at = f32At(values, i);
    v128.store(at, v128.and(v128.load(at), f32x4.gt(v128.load(f32At(gate, i)), zero)));
  }
  for (; i < length; i++) {
    if (!(load<f32>(f32At(gate, i)) > 0)) store<f32>(f32At(values, i), 0);
  }
}

/** out[c] = Σ_r a[r, c] for a row-major a [rows×cols]; added to out's values when `accumulate`. */
export function columnSums(a: usize, rows: i32, cols: i32, out: usize, accumulate: bool): void {
  for (let c = 0; c < cols; c++) {
    let sum: f32 = accumulate ? load<f32>(f32At(out, c)) : 0;
    for (let r = 0; r < rows; r++) sum += load<f32>(f32At(a, r * cols + c));
    store<f32>(f32At(out, c), sum);
  }
}

// out [cols×rows] = aᵀ for a row-major a [rows×cols].
export function transpose(a: usize, rows: i32, cols: i32, out: usize): void {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) store<f32>(f32At(out, c * rows + r), load<f32>(f32At(a, r * cols + c)));
  }
}
