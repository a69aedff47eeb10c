/** The simulated camera: text drawn where drawFrame says, on a background without ink. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drawFrame, textScale } from '../../../src/cli/demo/camera.js';
import { canDraw, drawText, textSize } from '../../../src/cli/demo/font.js';

test('every line lies inside the frame, with ink inside its rectangle and none outside', () => {
  const [w, h] = [320, 256];
  const frame = new Uint8Array((w * h * 3) / 2);
  const lines = drawFrame(frame, w, h, 7);
  assert.deepEqual(
    lines.map((l) => l.text),
    ['HBSYS DEMO', 'FRAME 0008', 'NV12 TO BPU'],
  );
  const inside = (x: number, y: number) =>
    lines.some((l) => x >= l.x && x < l.x + l.width && y >= l.y && y < l.y + l.height);
  for (const l of lines) {
    assert.ok(l.x >= 0 && l.y >= 0 && l.x + l.width <= w && l.y + l.height <= h, l.text);
    assert.equal(l.height, 7 * textScale(w, h));
  }
  let ink = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const dark = frame[y * w + x]! < 100;
      if (dark) ink++;
      assert.ok(!dark || inside(x, y), `ink outside every line at (${x}, ${y})`);
    }
  }
  assert.ok(ink > 500, `${ink} ink pixels`);
});

test('the font: sizes, narrow spaces, and characters it lacks', () => {
  assert.deepEqual(textSize('AB', 2), { width: 22, height: 14 });
  assert.deepEqual(textSize('A B', 1), { width: 14, height: 7 }); // A, a gap, a space of 3, B
  assert.equal(canDraw('HBSYS 0123-:./'), true);
  assert.equal(canDraw('hbsys'), false);
  assert.throws(() => drawText(new Uint8Array(100), 10, 10, 'a', 0, 0, 1, 0), /no glyph for 'a'/);
});
