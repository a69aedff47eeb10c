/**
 * The demo's simulated camera: NV12 frames of a light, slowly shaded background with three
 * lines of dark text (the built-in bitmap font) that move from frame to frame, and where
 * each line is, so that the detector's boxes can be compared with the truth.
 */

import { drawText, textSize } from './font.js';

/** A rectangle in pixels: left, top, width, height. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface TextLine extends Rect {
  text: string;
}

/** The font scale for a frame: lines of 11 characters fit the width, text about a seventh of the height. */
export function textScale(width: number, height: number): number {
  return Math.max(1, Math.floor(Math.min(width / 72, height / 48)));
}

/** Draws frame `index` into `frame` (W·H·3/2 bytes of NV12); returns its text lines. */
export function drawFrame(
  frame: Uint8Array,
  width: number,
  height: number,
  index: number,
): TextLine[] {
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) frame[row + x] = 186 + (((x + y + index * 8) >> 5) & 15);
  }
  const uv = width * height;
  for (let y = 0; y < height / 2; y++) {
    for (let x = 0; x < width / 2; x++) {
      const o = uv + y * width + x * 2;
      frame[o] = 124 + ((x >> 4) & 3); // a faint tint, so colour conversion matters
      frame[o + 1] = 130 - ((y >> 4) & 3);
    }
  }
  const scale = textScale(width, height);
  const texts = ['HBSYS DEMO', `FRAME ${String(index + 1).padStart(4, '0')}`, 'NV12 TO BPU'];
  const lines: TextLine[] = [];
  const step = Math.floor(height / (texts.length + 1));
  texts.forEach((text, i) => {
    const size = textSize(text, scale);
    const room = Math.max(1, width - size.width - 2 * scale);
    const x = scale + ((index * 3 * scale + i * 5 * scale) % room);
    const y = step * (i + 1) - Math.floor(size.height / 2);
    drawText(frame, width, height, text, x, y, scale, 28);
    lines.push({ text, x, y, width: size.width, height: size.height });
  });
  return lines;
}
