/**
 * What the compiled model's input stage does on the board, before the first layer: the
 * run-time image (NV12 from the camera, gray, RGB, BGR, YUV444) becomes the training type
 * (colour conversion), is normalised (`(x − mean) · scale`, the HzPreprocess node) and laid
 * out as the model was trained (NCHW or NHWC), as float32.
 *
 * The exact colour matrix of the BPU's front end is not published. The emulator uses
 * BT.601: full range for `input_space_and_range: regular` (the default) and video range
 * (Y in 16 … 235) for `bt601_video`, rounding each colour to a byte as the hardware's
 * intermediate uint8 image does; NV12 chroma is upsampled by repeating each sample over its
 * 2x2 pixels. So image models agree with the board closely, not bit for bit.
 */

/** The run-time types of image inputs (`input_type_rt`, less featuremap). */
export type ImageType = 'nv12' | 'gray' | 'rgb' | 'bgr' | 'yuv444';
/** The training types of image inputs (`input_type_train`, less featuremap). */
export type TrainType = 'rgb' | 'bgr' | 'yuv444' | 'gray';
export type Layout = 'NCHW' | 'NHWC';
export type ColourRange = 'regular' | 'bt601_video';

/** One image input as the model's input stage sees it. */
export interface ImageStage {
  readonly rt: ImageType;
  /** Layout of 3-channel run-time images (NV12 and gray have their own). */
  readonly layoutRt: Layout;
  readonly train: TrainType;
  readonly layoutTrain: Layout;
  readonly range: ColourRange;
  /** One value, or one per channel of the training type. */
  readonly mean: readonly number[];
  readonly scale: readonly number[];
  readonly width: number;
  readonly height: number;
}

/** Where the image's bytes are: a plane and offsets (UV for NV12), and the row stride. */
export interface ImageBytes {
  readonly plane: Uint8Array;
  readonly offset: number;
  /** NV12: where the interleaved UV plane is (default: right after Y, in `plane`). */
  readonly uvPlane?: Uint8Array;
  readonly uvOffset?: number;
  /** Bytes from one row to the next: of the Y plane, of a packed row, of a planar row. */
  readonly stride: number;
}

/** Channels of a training type. */
export function channelsOf(t: TrainType | ImageType): number {
  return t === 'gray' ? 1 : 3;
}

const byte = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

/** YUV → RGB, BT.601, full or video range, each to a byte. */
export function yuvToRgb(
  y: number,
  u: number,
  v: number,
  range: ColourRange,
): [number, number, number] {
  const d = u - 128;
  const e = v - 128;
  if (range === 'bt601_video') {
    const c = 1.164383 * (y - 16);
    return [byte(c + 1.596027 * e), byte(c - 0.391762 * d - 0.812968 * e), byte(c + 2.017232 * d)];
  }
  return [byte(y + 1.402 * e), byte(y - 0.344136 * d - 0.714136 * e), byte(y + 1.772 * d)];
}

/** RGB → YUV, BT.601 full range, each to a byte (for RGB/BGR run-time into YUV444 training). */
export function rgbToYuv(r: number, g: number, b: number): [number, number, number] {
  return [
    byte(0.299 * r + 0.587 * g + 0.114 * b),
    byte(-0.168736 * r - 0.331264 * g + 0.5 * b + 128),
    byte(0.5 * r - 0.418688 * g - 0.081312 * b + 128),
  ];
}

/** The float32 tensor the trained model takes, from the run-time image's bytes. */
export function imageToTensor(stage: ImageStage, src: ImageBytes): Float32Array {
  const { width: w, height: h } = stage;
  const c = channelsOf(stage.train);
  const out = new Float32Array(w * h * c);
  const mean = perChannel(stage.mean, c, 0);
  const scale = perChannel(stage.scale, c, 1);
  const nchw = stage.layoutTrain === 'NCHW';
  const px = [0, 0, 0];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      pixel(stage, src, x, y, px);
      const at = y * w + x;
      for (let k = 0; k < c; k++) {
        const i = nchw ? k * w * h + at : at * c + k;
        out[i] = (px[k]! - mean[k]!) * scale[k]!;
      }
    }
  }
  return out;
}

function perChannel(values: readonly number[], c: number, otherwise: number): number[] {
  if (values.length === 0) return new Array<number>(c).fill(otherwise);
  if (values.length === 1) return new Array<number>(c).fill(values[0]!);
  return values.slice(0, c);
}

/** The pixel at (x, y) in the training colour space, as bytes, into `px`. */
function pixel(stage: ImageStage, s: ImageBytes, x: number, y: number, px: number[]): void {
  const p = s.plane;
  let r: number;
  let g: number;
  let b: number;
  switch (stage.rt) {
    case 'gray':
      px[0] = p[s.offset + y * s.stride + x]!;
      return;
    case 'nv12': {
      const Y = p[s.offset + y * s.stride + x]!;
      // Without a UV plane of its own, UV follows Y in the same memory, as NV12 keeps it.
      const uvBase = s.uvOffset ?? s.offset + s.stride * stage.height;
      const uv = uvBase + (y >> 1) * s.stride + (x & ~1);
      const plane = s.uvPlane ?? p;
      const U = plane[uv]!;
      const V = plane[uv + 1]!;
      if (stage.train === 'yuv444') {
        px[0] = Y;
        px[1] = U;
        px[2] = V;
        return;
      }
      [r, g, b] = yuvToRgb(Y, U, V, stage.range);
      break;
    }
    default: {
      const three = read3(stage, s, x, y);
      if (stage.rt === 'yuv444') {
        if (stage.train === 'yuv444') {
          px[0] = three[0];
          px[1] = three[1];
          px[2] = three[2];
          return;
        }
        [r, g, b] = yuvToRgb(three[0], three[1], three[2], 'regular');
      } else if (stage.rt === 'bgr') {
        [b, g, r] = three;
      } else {
        [r, g, b] = three;
      }
    }
  }
  if (stage.train === 'bgr') {
    px[0] = b;
    px[1] = g;
    px[2] = r;
  } else if (stage.train === 'yuv444') {
    const yuv = rgbToYuv(r, g, b);
    px[0] = yuv[0];
    px[1] = yuv[1];
    px[2] = yuv[2];
  } else {
    px[0] = r;
    px[1] = g;
    px[2] = b;
  }
}

function read3(stage: ImageStage, s: ImageBytes, x: number, y: number): [number, number, number] {
  const p = s.plane;
  if (stage.layoutRt === 'NHWC') {
    const at = s.offset + y * s.stride + 3 * x;
    return [p[at]!, p[at + 1]!, p[at + 2]!];
  }
  const planeBytes = s.stride * stage.height;
  const at = s.offset + y * s.stride + x;
  return [p[at]!, p[at + planeBytes]!, p[at + 2 * planeBytes]!];
}
