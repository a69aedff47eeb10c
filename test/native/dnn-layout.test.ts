/**
 * The three struct generations of libdnn: hbsys's offsets against C's (the stand-in's header
 * compiled for each generation, also on arm64), encoding and decoding of properties, and the
 * choice of a generation from a version or a probe.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { hbDNNTensorProperties } from '../../src/dnn/types.js';
import {
  generationFromProbe,
  generationOfVersion,
  PROBE_MARKS,
  PROBE_SIZE,
} from '../../src/native/dnn-generation.js';
import {
  ALIGNED_SHAPE,
  type DnnGeneration,
  decodeProperties,
  encodeInferCtrl,
  encodeProperties,
  INFER_CTRL_SIZE,
  LAYOUTS,
  quantArrays,
  RESIZE_CTRL_SIZE,
  ROI_SIZE,
  SCALE_DATA,
  SCALE_LEN,
  SHIFT_DATA,
  SHIFT_LEN,
  TENSOR_LAYOUT,
  TENSOR_PROPERTIES,
  TENSOR_TYPE,
  VALID_SHAPE,
  ZERO_POINT_DATA,
  ZERO_POINT_LEN,
} from '../../src/native/dnn-layout.js';
import { cDnnLayout } from './standin.js';

const GENERATIONS: DnnGeneration[] = ['A', 'B', 'C'];

describe('struct layouts against C', () => {
  for (const g of GENERATIONS) {
    test(`generation ${g}: sizes and offsets are C's`, () => {
      const c = cDnnLayout(g);
      const l = LAYOUTS[g];
      const p = c.properties;
      assert.equal(p.size, l.propertiesSize);
      assert.deepEqual(
        [p.validShape, p.alignedShape, p.tensorLayout, p.tensorType],
        [VALID_SHAPE, ALIGNED_SHAPE, TENSOR_LAYOUT, TENSOR_TYPE],
      );
      assert.deepEqual(
        [p.shiftLen, p.shiftData, p.scaleLen, p.scaleData],
        [SHIFT_LEN, SHIFT_DATA, SCALE_LEN, SCALE_DATA],
      );
      assert.equal(p.quantiType, l.quantiType);
      assert.equal(p.alignedByteSize, l.alignedByteSize);
      assert.equal(p.zeroPointLen, l.zeroPoints ? ZERO_POINT_LEN : undefined);
      assert.equal(p.zeroPointData, l.zeroPoints ? ZERO_POINT_DATA : undefined);
      assert.equal(p.quantizeAxis, l.quantizeAxis);
      assert.equal(p.stride, l.stride);
      assert.deepEqual(c.tensor, {
        size: l.tensorSize,
        align: 8,
        sysMem: 0,
        properties: TENSOR_PROPERTIES,
      });
      assert.equal(c.inferCtrl.size, INFER_CTRL_SIZE);
      assert.equal(c.inferCtrl.more, 12);
      assert.equal(c.inferCtrl.customId, l.customId ? 16 : undefined);
      assert.equal(c.inferCtrl.align, l.customId ? 8 : 4);
      assert.equal(c.roi.size, ROI_SIZE);
      assert.deepEqual(c.resizeCtrl, { size: RESIZE_CTRL_SIZE, resizeType: 8 });
    });
  }
});

/** Library memory for the decoder: addresses are keys of this map. */
function memory() {
  const blocks = new Map<bigint, Uint8Array>();
  let next = 0x1000n;
  return {
    put(bytes: Uint8Array): bigint {
      if (bytes.length === 0) return 0n;
      const at = next;
      next += 0x1000n;
      blocks.set(at, bytes.slice());
      return at;
    },
    read(address: bigint, n: number): Uint8Array {
      const b = blocks.get(address);
      assert.ok(
        b !== undefined && b.length >= n,
        `read of ${n} bytes at 0x${address.toString(16)}`,
      );
      return b.subarray(0, n);
    },
  };
}

const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const shape = fc
  .array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 8 })
  .map((d) => ({ dimensionSize: d, numDimensions: d.length }));
const properties = (g: DnnGeneration) =>
  fc
    .record({
      validShape: shape,
      alignedShape: shape,
      tensorLayout: fc.constantFrom(0, 2, 255),
      tensorType: fc.integer({ min: 0, max: 18 }),
      shift: fc.uint8Array({ maxLength: 16 }),
      scale: fc.array(fc.float({ noNaN: true }), { maxLength: 16 }),
      zp: fc.int8Array({ maxLength: 16 }),
      quantiType: fc.constantFrom(0, 1, 2),
      quantizeAxis: fc.integer({ min: 0, max: 7 }),
      alignedByteSize: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      stride: fc.array(int32, { minLength: 8, maxLength: 8 }),
    })
    .map(
      (r): hbDNNTensorProperties => ({
        validShape: r.validShape,
        alignedShape: r.alignedShape,
        tensorLayout: r.tensorLayout,
        tensorType: r.tensorType,
        shift: { shiftLen: r.shift.length, shiftData: r.shift.length ? r.shift : null },
        scale: {
          scaleLen: r.scale.length,
          scaleData: r.scale.length ? new Float32Array(r.scale) : null,
          zeroPointLen: g === 'A' ? 0 : r.zp.length,
          zeroPointData: g === 'A' || r.zp.length === 0 ? null : r.zp,
        },
        quantiType: r.quantiType,
        quantizeAxis: g === 'C' ? r.quantizeAxis : 0,
        alignedByteSize: r.alignedByteSize,
        stride: r.stride.slice(0, r.validShape.numDimensions).map((s) => (g === 'C' ? s : 0)),
      }),
    );

describe('properties', () => {
  for (const g of GENERATIONS) {
    test(`generation ${g}: what hbsys encodes, it decodes the same`, () => {
      const l = LAYOUTS[g];
      fc.assert(
        fc.property(properties(g), (p) => {
          const mem = memory();
          const q = quantArrays(p, l);
          const view = new DataView(new ArrayBuffer(l.propertiesSize + 8));
          view.setUint32(l.propertiesSize, 0xdeadbeef, true);
          encodeProperties(view, 0, l, p, {
            shift: mem.put(q.shift),
            scale: mem.put(q.scale),
            zeroPoint: mem.put(q.zeroPoint),
          });
          assert.equal(view.getUint32(l.propertiesSize, true), 0xdeadbeef, 'wrote past the struct');
          assert.deepEqual(decodeProperties(view, 0, l, mem.read), p);
        }),
      );
    });
  }

  test('a length past the caller’s array is padded with zeros, never read past', () => {
    const p = {
      shift: { shiftLen: 4, shiftData: new Uint8Array([9]) },
      scale: { scaleLen: 2, scaleData: null, zeroPointLen: 3, zeroPointData: new Int8Array([-1]) },
    } as unknown as hbDNNTensorProperties;
    const q = quantArrays(p, LAYOUTS.B);
    assert.deepEqual([...q.shift], [9, 0, 0, 0]);
    assert.deepEqual([...q.scale], new Array(8).fill(0));
    assert.deepEqual([...q.zeroPoint], [255, 0, 0]);
    assert.equal(quantArrays(p, LAYOUTS.A).zeroPoint.length, 0);
  });

  test('corrupted numbers are reported, not decoded', () => {
    const view = new DataView(new ArrayBuffer(176));
    view.setInt32(VALID_SHAPE + 32, 9, true);
    assert.match(String(decodeProperties(view, 0, LAYOUTS.C, () => new Uint8Array())), /numDim/);
    view.setInt32(VALID_SHAPE + 32, 1, true);
    view.setInt32(SCALE_LEN, -5, true);
    assert.match(String(decodeProperties(view, 0, LAYOUTS.C, () => new Uint8Array())), /scaleLen/);
  });

  test('hbDNNInferCtrlParam: more at 12; customId at 16 only in generation C', () => {
    for (const g of GENERATIONS) {
      const view = new DataView(new ArrayBuffer(INFER_CTRL_SIZE));
      encodeInferCtrl(view, 0, LAYOUTS[g], {
        bpuCoreId: 1,
        dspCoreId: 2,
        priority: 200,
        more: true,
        customId: 2 ** 40 + 3,
      });
      assert.deepEqual(
        [0, 4, 8, 12].map((o) => view.getInt32(o, true)),
        [1, 2, 200, 1],
      );
      assert.equal(view.getBigInt64(16, true), g === 'C' ? 2n ** 40n + 3n : 0n);
    }
  });
});

describe('choosing the generation', () => {
  test('from the version: below 1.9 A, 1.9.x B, 1.18 and later C', () => {
    const gen = (v: string | null) => {
      const c = generationOfVersion(v);
      return 'generation' in c ? c.generation : 'probe';
    };
    assert.equal(gen('1.6.1_(3.12.1 HBRT)'), 'A');
    assert.equal(gen('1.8.4'), 'A');
    assert.equal(gen('1.9.7_(3.14.5 HBRT)'), 'B');
    assert.equal(gen('1.18.6_(3.15.25 HBRT)'), 'C');
    assert.equal(gen('1.24.5_(3.15.55 HBRT)'), 'C');
    assert.equal(gen('2.1.1'), 'C');
    assert.equal(gen('1.12.3_(3.15.0 HBRT)'), 'probe');
    assert.equal(gen('1.17.2'), 'probe');
    assert.equal(gen('dev build'), 'probe');
    assert.equal(gen(null), 'probe');
    const why = generationOfVersion('1.15.2') as { probe: string };
    assert.match(why.probe, /between 1\.9\.x .* and 1\.18/);
  });

  /** Two probe buffers as a library of generation `g` leaves them (fields only, or whole). */
  function probed(g: DnnGeneration, whole: boolean): [Uint8Array, Uint8Array] {
    const size = LAYOUTS[g].propertiesSize;
    const fields: Array<[number, number]> = whole
      ? [[0, size]]
      : [
          [0, 80],
          [80, 84],
          [88, 100],
          [104, 112],
          ...(g === 'A'
            ? ([[112, 120]] as Array<[number, number]>)
            : ([
                [112, 116],
                [120, 136],
              ] as Array<[number, number]>)),
          ...(g === 'C' ? ([[136, 172]] as Array<[number, number]>) : []),
        ];
    return PROBE_MARKS.map((mark) => {
      const b = new Uint8Array(PROBE_SIZE).fill(mark);
      // The library's values, the same whatever the mark; zeros are common in real structs.
      for (const [from, to] of fields) for (let i = from; i < to; i++) b[i] = i % 3 === 0 ? 0 : i;
      return b;
    }) as [Uint8Array, Uint8Array];
  }

  test('from a probe: what the library wrote tells A, B and C apart', () => {
    for (const g of GENERATIONS) {
      for (const whole of [true, false]) {
        const [a, b] = probed(g, whole);
        assert.equal(generationFromProbe(a, b), g, `${g}, ${whole ? 'whole struct' : 'fields'}`);
      }
    }
  });

  test('a probe that fits no generation is refused', () => {
    const [a, b] = probed('C', true);
    a[200] = b[200] = 1; // a bigger struct than any known
    assert.equal(generationFromProbe(a, b), undefined);
    const [c, d] = probed('B', true);
    c[130] = PROBE_MARKS[0];
    d[130] = PROBE_MARKS[1]; // quantiType left alone: not a properties struct
    assert.equal(generationFromProbe(c, d), undefined);
  });
});
