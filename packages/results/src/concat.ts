import { DataType, makeData, type Data } from 'apache-arrow';

/**
 * One column's Data made of `pieces` (of type `type`, each possibly a slice), copied
 * into fresh contiguous buffers: what compaction uses to turn many small record batches into one. Handles the
 * column types of the result schema: utf8, bool, int32, float64, timestamp and lists of int32 or float64.
 * apache-arrow's slices keep their value and offset buffers cut to the slice, and their validity (and bool)
 * bitmaps whole, read from bit `offset`: each buffer is read accordingly.
 */
export function concatData(type: DataType, pieces: readonly Data[]): Data {
  const length = pieces.reduce((sum, d) => sum + d.length, 0);
  const nullCount = pieces.reduce((sum, d) => sum + d.nullCount, 0);
  const nullBitmap = nullCount > 0 ? concatBits(pieces, length, (d) => d.nullBitmap as Uint8Array | undefined) : undefined;
  if (DataType.isUtf8(type)) {
    const { valueOffsets, ranges } = concatOffsets(pieces, length);
    return makeData({ type, length, nullCount, nullBitmap, valueOffsets, data: concatBytes(pieces, ranges) });
  }
  if (DataType.isList(type)) {
    const { valueOffsets, ranges } = concatOffsets(pieces, length);
    const children = pieces.map((d, i) => d.children[0]!.slice(ranges[i]![0], ranges[i]![1] - ranges[i]![0]));
    return makeData({ type, length, nullCount, nullBitmap, valueOffsets, child: concatData(type.children[0]!.type, children) });
  }
  if (DataType.isBool(type)) {
    return makeData({ type, length, nullCount, nullBitmap, data: concatBits(pieces, length, (d) => d.values as Uint8Array) });
  }
  if (DataType.isInt(type) || DataType.isFloat(type) || DataType.isTimestamp(type)) {
    const ArrayType = (type as unknown as { ArrayType: new (n: number) => TypedArray }).ArrayType;
    const values = new ArrayType(length);
    let at = 0;
    for (const d of pieces) {
      (values as Int32Array).set((d.values as Int32Array).subarray(0, d.length), at);
      at += d.length;
    }
    return makeData({ type, length, nullCount, nullBitmap, data: values } as never);
  }
  throw new Error(`concatData: column type ${String(type)} is not one of the result schema's`);
}

type TypedArray = Int32Array | Float64Array | BigInt64Array;

/** A bitmap (validity or bool values) of all pieces, each read from its own bit offset. An absent bitmap is all ones. */
function concatBits(pieces: readonly Data[], length: number, bitsOf: (d: Data) => Uint8Array | undefined): Uint8Array {
  const out = new Uint8Array(Math.ceil(length / 8));
  let at = 0;
  for (const d of pieces) {
    const bits = bitsOf(d);
    for (let i = 0; i < d.length; i++, at++) {
      const j = d.offset + i;
      if (!bits || bits.length === 0 || (bits[j >> 3]! >> (j & 7)) & 1) out[at >> 3]! |= 1 << (at & 7);
    }
  }
  return out;
}

/** The offsets of a variable-size column over all pieces, rebased, and the child range [start, end) each piece covers. */
function concatOffsets(pieces: readonly Data[], length: number): { valueOffsets: Int32Array; ranges: [number, number][] } {
  const valueOffsets = new Int32Array(length + 1);
  const ranges: [number, number][] = [];
  let at = 0;
  let base = 0;
  for (const d of pieces) {
    const offsets = d.valueOffsets as Int32Array;
    const start = offsets[0]!;
    for (let i = 1; i <= d.length; i++) valueOffsets[at + i] = base + offsets[i]! - start;
    const end = offsets[d.length]!;
    ranges.push([start, end]);
    at += d.length;
    base += end - start;
  }
  return { valueOffsets, ranges };
}

function concatBytes(pieces: readonly Data[], ranges: readonly [number, number][]): Uint8Array {
  const out = new Uint8Array(ranges.reduce((sum, [start, end]) => sum + end - start, 0));
  let at = 0;
  pieces.forEach((d, i) => {
    const [start, end] = ranges[i]!;
    out.set((d.values as Uint8Array).subarray(start, end), at);
    at += end - start;
  });
  return out;
}
