/**
 * isFillable and writeFields answer a fresh `{}` from `Object.hasOwn` instead of property
 * descriptors (the allocation's common case). These properties check that the quick answer is
 * the descriptor path's on objects of every kind: own fields absent, plain, read-only,
 * accessors with and without setters, frozen, sealed, non-extensible, fields on a
 * prototype, extra keys, and Proxies over any of them. fillFields (the emulator's writeFields
 * without an undo object) must leave every object as writeFields does.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isFillable } from '../src/hbsys.js';
import type { hbSysMem } from '../src/mem.js';
import { fillFields, nullVirAddr, writeFields } from '../src/out-param.js';

const FIELDS = ['phyAddr', 'virAddr', 'memSize'] as const;

/** The descriptor path, as isFillable was before its quick path. */
function fillableByDescriptors(x: object): boolean {
  if (ArrayBuffer.isView(x)) return false;
  try {
    return FIELDS.every((key) => {
      const d = Object.getOwnPropertyDescriptor(x, key);
      if (d === undefined) return Object.isExtensible(x);
      return d.set !== undefined || d.writable === true;
    });
  } catch {
    return false;
  }
}

type FieldKind = 'absent' | 'plain' | 'readonly' | 'getter' | 'accessor' | 'throwing-setter';

interface Shape {
  fields: FieldKind[];
  extra: boolean;
  proto: 'plain' | 'readonly' | 'setter';
  lock: 'none' | 'preventExtensions' | 'seal' | 'freeze';
  proxy: boolean;
}

const shapeArb: fc.Arbitrary<Shape> = fc.record({
  fields: fc.array(
    fc.constantFrom<FieldKind>(
      'absent',
      'plain',
      'readonly',
      'getter',
      'accessor',
      'throwing-setter',
    ),
    { minLength: 3, maxLength: 3 },
  ),
  extra: fc.boolean(),
  proto: fc.constantFrom('plain', 'readonly', 'setter'),
  lock: fc.constantFrom('none', 'preventExtensions', 'seal', 'freeze'),
  proxy: fc.boolean(),
});

function build(shape: Shape): object {
  const proto: Record<string, unknown> = {};
  if (shape.proto === 'readonly') {
    Object.defineProperty(proto, 'virAddr', { value: null, writable: false });
  } else if (shape.proto === 'setter') {
    Object.defineProperty(proto, 'memSize', {
      set() {
        throw new Error('the prototype refuses');
      },
    });
  }
  const x: Record<string, unknown> = Object.create(proto);
  shape.fields.forEach((kind, i) => {
    const key = FIELDS[i]!;
    let box: unknown = 0;
    if (kind === 'plain')
      // Defined, not assigned: the prototype's own setter or read-only field would refuse.
      Object.defineProperty(x, key, {
        value: 1,
        writable: true,
        enumerable: true,
        configurable: true,
      });
    else if (kind === 'readonly')
      Object.defineProperty(x, key, { value: 1, writable: false, configurable: true });
    else if (kind === 'getter') Object.defineProperty(x, key, { get: () => 1, configurable: true });
    else if (kind === 'accessor')
      Object.defineProperty(x, key, {
        get: () => box,
        set: (v) => {
          box = v;
        },
        configurable: true,
        enumerable: true,
      });
    else if (kind === 'throwing-setter')
      Object.defineProperty(x, key, {
        get: () => 1,
        set: () => {
          throw new Error('the setter refuses');
        },
        configurable: true,
      });
  });
  if (shape.extra) Object.defineProperty(x, 'other', { value: 'kept', enumerable: true });
  if (shape.lock === 'preventExtensions') Object.preventExtensions(x);
  else if (shape.lock === 'seal') Object.seal(x);
  else if (shape.lock === 'freeze') Object.freeze(x);
  return shape.proxy ? new Proxy(x, {}) : x;
}

/** Own keys with their descriptors' data, for "the object is as it was". */
function ownState(x: object): unknown {
  return Reflect.ownKeys(x).map((k) => {
    const d = Object.getOwnPropertyDescriptor(x, k)!;
    return [k, d.value, d.writable, d.enumerable, d.configurable, d.get, d.set];
  });
}

/** ownState for comparing two objects built alike: accessors by kind (each has its own). */
function builtState(x: object): unknown {
  return Reflect.ownKeys(x).map((k) => {
    const d = Object.getOwnPropertyDescriptor(x, k)!;
    return [k, d.value, d.writable, d.enumerable, d.configurable, typeof d.get, typeof d.set];
  });
}

test('isFillable: the hasOwn answer is the descriptor answer, for objects of every shape', () => {
  fc.assert(
    fc.property(shapeArb, (shape) => {
      const x = build(shape);
      assert.equal(isFillable(x), fillableByDescriptors(x), JSON.stringify(shape));
    }),
    { numRuns: 2000 },
  );
});

test('isFillable: a fresh {} is fillable; a frozen one, a typed array and null are not', () => {
  assert.equal(isFillable({}), true);
  assert.equal(isFillable(Object.freeze({})), false);
  assert.equal(isFillable(Object.preventExtensions({})), false);
  assert.equal(isFillable(new Uint8Array(4)), false);
  assert.equal(isFillable(null), false);
  const throwing = new Proxy(
    {},
    {
      getOwnPropertyDescriptor() {
        throw new Error('the descriptor trap throws');
      },
    },
  );
  assert.equal(isFillable(throwing), false);
});

test('writeFields: a write refused midway leaves the object as it was, whatever its shape', () => {
  fc.assert(
    fc.property(shapeArb, fc.integer({ min: 0, max: 2 }), (shape, refuseAt) => {
      const x = build(shape) as hbSysMem;
      const before = ownState(x);
      const r = writeFields(x, (out) => {
        out.phyAddr = 5n;
        if (refuseAt === 0) throw new Error('refused');
        out.virAddr = null;
        if (refuseAt === 1) throw new Error('refused');
        out.memSize = 7;
        throw new Error('refused');
      });
      assert.equal(typeof r, 'string');
      assert.deepEqual(ownState(x), before, JSON.stringify(shape));
    }),
    { numRuns: 2000 },
  );
});

test('writeFields: restore() after a write puts a fresh {} back to no own fields', () => {
  const x = {} as hbSysMem;
  const r = writeFields(x, (out) => {
    out.phyAddr = 1n;
    out.virAddr = null;
    out.memSize = 1;
  });
  assert.notEqual(typeof r, 'string');
  assert.deepEqual(Reflect.ownKeys(x), ['phyAddr', 'virAddr', 'memSize']);
  if (typeof r !== 'string') r.restore();
  assert.deepEqual(Reflect.ownKeys(x), []);
});

test('fillFields and nullVirAddr leave every object as writeFields and clearVirAddr do', () => {
  fc.assert(
    fc.property(shapeArb, fc.integer({ min: 0, max: 3 }), fc.boolean(), (shape, refuseAt, all) => {
      const write = (out: hbSysMem) => {
        out.phyAddr = 5n;
        if (refuseAt === 0) throw new Error('refused');
        out.virAddr = null;
        if (refuseAt === 1) throw new Error('refused');
        out.memSize = 7;
        if (refuseAt === 2) throw new Error('refused');
      };
      const a = build(shape) as hbSysMem;
      const b = build(shape) as hbSysMem;
      const byObject = all ? writeFields(a, write) : writeFields(a, write, false);
      const byLocals = all ? fillFields(b, write) : fillFields(b, write, false);
      assert.equal(typeof byObject === 'string', byLocals !== undefined);
      if (typeof byObject === 'string') assert.equal(byLocals, byObject);
      assert.deepEqual(builtState(b), builtState(a), JSON.stringify(shape));
      const c = build(shape) as hbSysMem;
      const d = build(shape) as hbSysMem;
      const cleared = writeFields(
        c,
        (m) => {
          m.virAddr = null;
        },
        false,
      );
      assert.equal(nullVirAddr(d), typeof cleared === 'string' ? cleared : undefined);
      assert.deepEqual(builtState(d), builtState(c), JSON.stringify(shape));
    }),
    { numRuns: 2000 },
  );
});

test('hbSysFreeMem and hbSysUnregisterMem read virAddr’s descriptor once, on both paths of the clear', async () => {
  const { emulator, hbSysAllocMem, hbSysFreeMem, hbSysRegisterMem, hbSysUnregisterMem } =
    await import('../src/index.js');
  await emulator.reset({ heapSize: 1 << 20, sanitize: 'off' });
  /** A Proxy over `target` that counts getOwnPropertyDescriptor of virAddr. */
  const counted = (target: object, refuseWrite = false) => {
    const count = { n: 0 };
    const proxy = new Proxy(target, {
      getOwnPropertyDescriptor(t, key) {
        if (key === 'virAddr') count.n++;
        return Reflect.getOwnPropertyDescriptor(t, key);
      },
      // (Set on the target itself: a set with the Proxy as receiver asks it for the
      // descriptor again, as the language's [[Set]] does, which is not hbsys reading.)
      set(t, key, value) {
        if (refuseWrite && key === 'virAddr') throw new Error('refused');
        return Reflect.set(t, key, value);
      },
    });
    return { proxy: proxy as hbSysMem, count };
  };
  const mem = {} as hbSysMem;
  assert.equal(hbSysAllocMem(mem, 4096), 0);
  // The clear refused: the failure path puts back the descriptor the check read.
  const refused = counted(mem, true);
  assert.notEqual(hbSysFreeMem(refused.proxy), 0);
  assert.equal(refused.count.n, 1);
  assert.ok(mem.virAddr instanceof Uint8Array, 'nothing was freed');
  const reg = { phyAddr: mem.phyAddr, memSize: 64 } as hbSysMem;
  assert.equal(hbSysRegisterMem(reg), 0);
  const r = counted(reg);
  assert.equal(hbSysUnregisterMem(r.proxy), 0);
  assert.equal(r.count.n, 1);
  const ok = counted(mem);
  assert.equal(hbSysFreeMem(ok.proxy), 0);
  assert.equal(ok.count.n, 1);
  assert.equal(mem.virAddr, null);
});
