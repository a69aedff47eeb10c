/**
 * A tiny built-in bitmap font (5x7 cells, upper case, digits and a little punctuation), so
 * that the demo's simulated camera can show text without a font file or a canvas library.
 * Each glyph is seven rows of five pixels, `#` for ink.
 */

const GLYPHS: Readonly<Record<string, string>> = {
  A: '.###. #...# #...# ##### #...# #...# #...#',
  B: '####. #...# #...# ####. #...# #...# ####.',
  C: '.###. #...# #.... #.... #.... #...# .###.',
  D: '####. #...# #...# #...# #...# #...# ####.',
  E: '##### #.... #.... ####. #.... #.... #####',
  F: '##### #.... #.... ####. #.... #.... #....',
  G: '.###. #...# #.... #.### #...# #...# .####',
  H: '#...# #...# #...# ##### #...# #...# #...#',
  I: '.###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.',
  J: '..### ...#. ...#. ...#. ...#. #..#. .##..',
  K: '#...# #..#. #.#.. ##... #.#.. #..#. #...#',
  L: '#.... #.... #.... #.... #.... #.... #####',
  M: '#...# ##.## #.#.# #.#.# #...# #...# #...#',
  N: '#...# #...# ##..# #.#.# #..## #...# #...#',
  O: '.###. #...# #...# #...# #...# #...# .###.',
  P: '####. #...# #...# ####. #.... #.... #....',
  Q: '.###. #...# #...# #...# #.#.# #..#. .##.#',
  R: '####. #...# #...# ####. #.#.. #..#. #...#',
  S: '.#### #.... #.... .###. ....# ....# ####.',
  T: '##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..',
  U: '#...# #...# #...# #...# #...# #...# .###.',
  V: '#...# #...# #...# #...# #...# .#.#. ..#..',
  W: '#...# #...# #...# #.#.# #.#.# #.#.# .#.#.',
  X: '#...# #...# .#.#. ..#.. .#.#. #...# #...#',
  Y: '#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..',
  Z: '##### ....# ...#. ..#.. .#... #.... #####',
  '0': '.###. #...# #..## #.#.# ##..# #...# .###.',
  '1': '..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.',
  '2': '.###. #...# ....# ...#. ..#.. .#... #####',
  '3': '####. ....# ....# .###. ....# ....# ####.',
  '4': '...#. ..##. .#.#. #..#. ##### ...#. ...#.',
  '5': '##### #.... ####. ....# ....# #...# .###.',
  '6': '.###. #.... #.... ####. #...# #...# .###.',
  '7': '##### ....# ...#. ..#.. .#... .#... .#...',
  '8': '.###. #...# #...# .###. #...# #...# .###.',
  '9': '.###. #...# #...# .#### ....# ....# .###.',
  '-': '..... ..... ..... ##### ..... ..... .....',
  ':': '..... ..#.. ..#.. ..... ..#.. ..#.. .....',
  '.': '..... ..... ..... ..... ..... ..#.. ..#..',
  '/': '....# ....# ...#. ..#.. .#... #.... #....',
  ' ': '..... ..... ..... ..... ..... ..... .....',
};

export const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 7;
/** A space is narrower than a glyph, as in print: wide gaps split a line into words. */
const SPACE_ADVANCE = 3;

/** Columns from one character's left edge to the next's. */
function advance(c: string): number {
  return c === ' ' ? SPACE_ADVANCE : GLYPH_WIDTH + 1;
}

/** Each glyph's pixels, row by row: true for ink. */
const BITS: ReadonlyMap<string, readonly boolean[]> = new Map(
  Object.entries(GLYPHS).map(([c, rows]) => [
    c,
    [...rows.replaceAll(' ', '')].map((p) => p === '#'),
  ]),
);

/** Whether the font can draw every character of `text`. */
export function canDraw(text: string): boolean {
  return [...text].every((c) => BITS.has(c));
}

/** Width and height in pixels of `text` drawn at `scale` with one blank column between glyphs. */
export function textSize(text: string, scale: number): { width: number; height: number } {
  const columns = [...text].reduce((n, c) => n + advance(c), 0);
  return { width: text === '' ? 0 : (columns - 1) * scale, height: GLYPH_HEIGHT * scale };
}

/**
 * Draws `text` into an 8-bit plane (`stride` bytes a row, `height` rows) with its top left at
 * (x, y), each font pixel a `scale`×`scale` square of `ink`. Pixels outside the plane are
 * skipped.
 */
export function drawText(
  plane: Uint8Array,
  stride: number,
  height: number,
  text: string,
  x: number,
  y: number,
  scale: number,
  ink: number,
): void {
  let left = x;
  for (const c of text) {
    const bits = BITS.get(c);
    if (bits === undefined) throw new Error(`the demo font has no glyph for '${c}'`);
    for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
      for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
        if (!bits[gy * GLYPH_WIDTH + gx]) continue;
        for (let dy = 0; dy < scale; dy++) {
          const py = y + gy * scale + dy;
          if (py < 0 || py >= height) continue;
          for (let dx = 0; dx < scale; dx++) {
            const px = left + gx * scale + dx;
            if (px >= 0 && px < stride) plane[py * stride + px] = ink;
          }
        }
      }
    }
    left += advance(c) * scale;
  }
}
