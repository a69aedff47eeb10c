/**
 * The text detector's post-processing on the CPU, after PaddleOCR's DB post-process: the
 * probability map is thresholded, each 4-connected region of text pixels becomes an
 * axis-aligned box, regions whose mean probability is low or that are tiny are dropped, and
 * each box is grown ("unclipped") by area·ratio / perimeter on every side, because DB
 * learns to mark a shrunk core of each text line.
 */

import type { Rect } from './camera.js';

export interface DbOptions {
  /** Pixels above this probability are text (PaddleOCR's det_db_thresh). */
  threshold: number;
  /** Regions whose mean probability is below this are dropped (det_db_box_thresh). */
  boxThreshold: number;
  /** How much each box grows (det_db_unclip_ratio). */
  unclipRatio: number;
  /** Regions narrower or lower than this many pixels are dropped. */
  minSize: number;
}

export const DB_DEFAULTS: DbOptions = {
  threshold: 0.3,
  boxThreshold: 0.6,
  unclipRatio: 1.5,
  minSize: 3,
};

export interface TextBox extends Rect {
  /** Mean probability over the region's pixels. */
  score: number;
}

/** The text boxes of a `width`×`height` probability map, top to bottom, left to right. */
export function textBoxes(
  map: Float32Array,
  width: number,
  height: number,
  options: DbOptions = DB_DEFAULTS,
): TextBox[] {
  const label = new Int32Array(width * height).fill(-1);
  const stack: number[] = [];
  const boxes: TextBox[] = [];
  let regions = 0;
  for (let start = 0; start < map.length; start++) {
    if (label[start] !== -1 || !(map[start]! > options.threshold)) continue;
    let [minX, minY, maxX, maxY, sum, count] = [width, height, -1, -1, 0, 0];
    label[start] = regions;
    stack.push(start);
    while (stack.length > 0) {
      const p = stack.pop()!;
      const x = p % width;
      const y = (p - x) / width;
      minX = Math.min(minX, x);
      maxX = Math.max(maxX, x);
      minY = Math.min(minY, y);
      maxY = Math.max(maxY, y);
      sum += map[p]!;
      count++;
      for (const q of [x > 0 ? p - 1 : -1, x < width - 1 ? p + 1 : -1, p - width, p + width]) {
        if (q >= 0 && q < map.length && label[q] === -1 && map[q]! > options.threshold) {
          label[q] = regions;
          stack.push(q);
        }
      }
    }
    regions++;
    const w = maxX - minX + 1;
    const h = maxY - minY + 1;
    const score = sum / count;
    if (Math.min(w, h) < options.minSize || score < options.boxThreshold) continue;
    const grow = Math.round((w * h * options.unclipRatio) / (2 * (w + h)));
    const x0 = Math.max(0, minX - grow);
    const y0 = Math.max(0, minY - grow);
    const x1 = Math.min(width - 1, maxX + grow);
    const y1 = Math.min(height - 1, maxY + grow);
    boxes.push({ x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1, score });
  }
  return boxes.sort((a, b) => a.y - b.y || a.x - b.x);
}

/** `r` in another image's pixels, `sx` and `sy` times as wide and high. */
export function scaleRect(r: Rect, sx: number, sy: number): Rect {
  const x = Math.round(r.x * sx);
  const y = Math.round(r.y * sy);
  return {
    x,
    y,
    width: Math.round((r.x + r.width) * sx) - x,
    height: Math.round((r.y + r.height) * sy) - y,
  };
}

/** Intersection over union of two rectangles. */
export function iou(a: Rect, b: Rect): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a.width * a.height + b.width * b.height - inter);
}
