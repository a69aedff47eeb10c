/**
 * The CPU reference of the int8 3x3 convolution, written as the definition reads:
 * for every output element, sum over the 3x3 window and the input channels.
 *
 * Definition:
 * - input: uint8 HWC [height][width][inChannels]; the value used is input − inputZeroPoint;
 *   outside the image (padding 1) the value is 0.
 * - weights: int8 [outChannels][3][3][inChannels]; bias: int32 [outChannels].
 * - acc = bias[oc] + Σ (input − zp) · weight, in int32 with two's-complement wrap-around
 *   (the bounds on the shapes keep Σ inside ±2^30; only an extreme bias can wrap).
 * - requantisation: out = floor((acc · multiplier + 2^(shift−1)) / 2^shift) (round half up;
 *   for shift 0 just acc · multiplier), clamped to −128 … 127, then max(out, 0) if relu.
 * - output: int8 HWC [height][width][outChannels]; stride 1, so the same height and width.
 */

/** The shape and quantisation of a 3x3 int8 convolution (see the definition above). */
export interface Conv3x3Shape {
  /** Rows of the input and of the output (stride 1, padding 1). */
  height: number;
  /** Columns of the input and of the output. */
  width: number;
  /** Channels of the uint8 HWC input. */
  inChannels: number;
  /** Channels of the int8 HWC output: one bias and one 3x3 filter each. */
  outChannels: number;
  /** Subtracted from every input byte before the multiply. Default 0. */
  inputZeroPoint?: number;
  /** Requantisation multiplier: out = floor((acc · multiplier + 2^(shift−1)) / 2^shift). */
  multiplier: number;
  /** Requantisation right shift, 0 … 31. */
  shift: number;
  /** Clamp negative outputs to 0. Default false. */
  relu?: boolean;
}

/** Requantises an int32 accumulator to int8. */
export function requantize(acc: number, multiplier: number, shift: number, relu: boolean): number {
  const scaled =
    shift === 0 ? acc * multiplier : Math.floor((acc * multiplier + 2 ** (shift - 1)) / 2 ** shift);
  const q = scaled < -128 ? -128 : scaled > 127 ? 127 : scaled;
  return relu && q < 0 ? 0 : q;
}

/**
 * The convolution on the CPU, as the definition above reads: `input` uint8 HWC, `weights`
 * int8 [outChannels][3][3][inChannels], `bias` int32 [outChannels]; returns int8 HWC.
 */
export function conv3x3Int8Reference(
  input: Uint8Array,
  weights: Int8Array,
  bias: Int32Array,
  shape: Conv3x3Shape,
): Int8Array {
  const { height: H, width: W, inChannels: C, outChannels: K } = shape;
  const zp = shape.inputZeroPoint ?? 128;
  const out = new Int8Array(H * W * K);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let k = 0; k < K; k++) {
        let acc = bias[k]!;
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const iy = y + dy;
            const ix = x + dx;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            for (let c = 0; c < C; c++) {
              const v = input[(iy * W + ix) * C + c]! - zp;
              const wgt = weights[((k * 3 + (dy + 1)) * 3 + (dx + 1)) * C + c]!;
              acc = (acc + v * wgt) | 0; // int32, wrapping as the hardware does
            }
          }
        }
        out[(y * W + x) * K + k] = requantize(
          acc,
          shape.multiplier,
          shape.shift,
          shape.relu ?? false,
        );
      }
    }
  }
  return out;
}
