/** The detector's post-processing: probability map → text boxes. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { iou, scaleRect, textBoxes } from '../../../src/cli/demo/db-postprocess.js';

function map(width: number, height: number, regions: [number, number, number, number, number][]) {
  const m = new Float32Array(width * height).fill(0.05);
  for (const [x, y, w, h, p] of regions) {
    for (let r = y; r < y + h; r++) m.fill(p, r * width + x, r * width + x + w);
  }
  return m;
}

test('each confident region becomes a box grown by area·1.5/perimeter, in reading order', () => {
  const m = map(64, 32, [
    [30, 20, 20, 4, 0.9], // lower line
    [4, 4, 20, 4, 0.95], // upper line
    [40, 2, 8, 6, 0.4], // above the threshold, below the box threshold: dropped
    [58, 28, 2, 2, 0.99], // too small: dropped
  ]);
  const boxes = textBoxes(m, 64, 32);
  assert.equal(boxes.length, 2);
  // 20x4: grows by round(80·1.5 / 48) = 3 on every side.
  assert.deepEqual(
    boxes.map(({ x, y, width, height }) => [x, y, width, height]),
    [
      [1, 1, 26, 10],
      [27, 17, 26, 10],
    ],
  );
  assert.ok(Math.abs(boxes[0]!.score - 0.95) < 1e-6);
});

test('boxes stay inside the map; 4-connected pixels make one region', () => {
  const m = map(16, 16, [
    [0, 0, 6, 3, 0.9],
    [5, 3, 3, 3, 0.9], // touches the first along an edge: one region
  ]);
  const boxes = textBoxes(m, 16, 16);
  assert.equal(boxes.length, 1);
  assert.equal(boxes[0]!.x, 0);
  assert.equal(boxes[0]!.y, 0);
});

test('iou and scaleRect', () => {
  assert.equal(
    iou({ x: 0, y: 0, width: 2, height: 2 }, { x: 1, y: 0, width: 2, height: 2 }),
    1 / 3,
  );
  assert.equal(iou({ x: 0, y: 0, width: 1, height: 1 }, { x: 5, y: 5, width: 1, height: 1 }), 0);
  assert.deepEqual(scaleRect({ x: 3, y: 2, width: 5, height: 4 }, 2, 1.5), {
    x: 6,
    y: 3,
    width: 10,
    height: 6,
  });
});
