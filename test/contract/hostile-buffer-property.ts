/**
 * The hostile-object property, buffer API part: allocate, register, view, write and read
 * with options whose getters throw, Proxies, bigint and NaN offsets, types that are not
 * typed-array classes, detached, shrunk and fake host bytes. A valid call must succeed; any
 * other must throw an HbSysError (INVALID_ARGUMENT), write nothing and leak nothing.
 */

import assert from 'node:assert/strict';
import fc from 'fast-check';
import { allocate, HB_SYS_INVALID_ARGUMENT, HbSysError, register } from '../../src/index.js';
import { detach, resizable } from './hostile-contract.js';
import { type HostileWorld, isSize, pattern, show } from './hostile-property.js';

const I = HB_SYS_INVALID_ARGUMENT;

/** Runs the property over the buffer API; returns how many cases ran. */
export function hostileBufferProperty(world: HostileWorld, numRuns: number, seed?: number) {
  const ext = world.externalBuffer(4096);
  let cases = 0;
  const throwingGetter = {
    get cached(): boolean {
      throw new Error('boom');
    },
    get label(): string {
      throw new Error('boom');
    },
  };
  const trap = new Proxy(
    {},
    {
      get: () => {
        throw new Error('trap');
      },
    },
  );
  /** Options, and whether allocate and register accept them (register reads only label). */
  const options: [unknown, boolean, boolean][] = [
    [undefined, true, true],
    [{}, true, true],
    [{ cached: true, label: 'x' }, true, true],
    [Object.freeze({ cached: false }), true, true],
    [{ cached: 'yes' }, false, true],
    [{ label: 5 }, false, false],
    [throwingGetter, false, false],
    [trap, false, false],
    [null, false, false],
    [5, false, false],
  ];
  const fakeType = {
    get BYTES_PER_ELEMENT(): number {
      throw new Error('boom');
    },
  };
  const types: [unknown, number | undefined][] = [
    [Uint8Array, 1],
    [Float32Array, 4],
    [BigInt64Array, 8],
    [null, undefined],
    [{}, undefined],
    [fakeType, undefined],
    [new Proxy(Float32Array, {}), undefined],
    [DataView, undefined],
    [Array, undefined],
  ];
  const offsets: unknown[] = [0, 4, 8, 3, -4, 4n, Number.NaN, '4', 1e9, new Proxy({}, {})];
  const lengths: unknown[] = [undefined, 1, 0, 2, 17, 1n, -1];
  const hosts: [() => unknown, number | undefined][] = [
    [() => new Uint8Array(8).fill(3), 8],
    [() => new Uint8Array(0), 0],
    [() => new DataView(new ArrayBuffer(16)), 16],
    [
      () => {
        const u = new Uint8Array(8);
        detach(u.buffer);
        return u;
      },
      undefined,
    ],
    [
      () => {
        const ab = resizable(32);
        const u = new Uint8Array(ab, 0, 32);
        ab.resize(4);
        return u;
      },
      undefined,
    ],
    [() => new Proxy(new Uint8Array(8), {}), undefined],
    [() => Object.create(Uint8Array.prototype), undefined],
    [() => [1, 2, 3], undefined],
  ];
  const op = fc.oneof(
    fc.record({
      op: fc.constant('allocate' as const),
      size: fc.constantFrom<unknown>(64, 0, 1.5, '64', 64n),
      options: fc.nat(options.length - 1),
    }),
    fc.record({
      op: fc.constant('register' as const),
      size: fc.constantFrom<unknown>(64, 0, 1.5),
      options: fc.nat(options.length - 1),
    }),
    fc.record({
      op: fc.constant('view' as const),
      type: fc.nat(types.length - 1),
      offset: fc.nat(offsets.length - 1),
      length: fc.nat(lengths.length - 1),
    }),
    fc.record({
      op: fc.constantFrom('write' as const, 'read' as const),
      host: fc.nat(hosts.length - 1),
      offset: fc.nat(offsets.length - 1),
    }),
  );
  try {
    fc.assert(
      fc.property(op, (o) => {
        cases++;
        const before = world.liveCounts();
        world.onCase?.(`buffer ${show(o)}`);
        const buf = allocate(64, { cached: true, label: 'hostile' });
        buf.write(pattern(64, 4));
        let valid: boolean;
        let run: () => unknown;
        switch (o.op) {
          case 'allocate': {
            const [opts, ok] = options[o.options]!;
            valid = ok && isSize(o.size);
            run = () => allocate(o.size as number, opts as never).free();
            break;
          }
          case 'register': {
            const [opts, , ok] = options[o.options]!;
            valid = ok && isSize(o.size);
            run = () => register(ext.phyAddr, o.size as number, opts as never).free();
            break;
          }
          case 'view': {
            const [type, width] = types[o.type]!;
            const offset = offsets[o.offset];
            const length = lengths[o.length];
            const max =
              width !== undefined &&
              typeof offset === 'number' &&
              Number.isInteger(offset) &&
              offset >= 0
                ? Math.floor((64 - offset) / width)
                : -1;
            const n = length ?? max;
            valid =
              width !== undefined &&
              max >= 0 &&
              (offset as number) % width === 0 &&
              typeof n === 'number' &&
              Number.isInteger(n) &&
              n >= 0 &&
              n <= max;
            run = () => buf.view(type as never, offset as number, length as number);
            break;
          }
          default: {
            const [make, length] = hosts[o.host]!;
            const bytes = make();
            const offset = offsets[o.offset];
            const isIndex = typeof offset === 'number' && Number.isInteger(offset) && offset >= 0;
            valid =
              length !== undefined &&
              isIndex &&
              (o.op === 'write' ? offset + length <= 64 : offset <= 64 && offset + length <= 64);
            run =
              o.op === 'write'
                ? () => buf.write(bytes as Uint8Array, offset as number)
                : () => buf.read(bytes as Uint8Array, offset as number);
          }
        }
        const content = buf.bytes.slice();
        let thrown: unknown;
        try {
          run();
        } catch (error) {
          thrown = error;
        }
        const why = `buffer ${show(o)}: ${String(thrown)}`;
        if (valid) assert.equal(thrown, undefined, why);
        else {
          assert.ok(thrown instanceof HbSysError, `not an HbSysError: ${why}`);
          assert.equal(thrown.code, I, why);
          if (o.op === 'write') assert.deepEqual(buf.bytes, content, `written anyway: ${why}`);
        }
        buf.free();
        assert.deepEqual(world.liveCounts(), before, `something leaked: ${why}`);
      }),
      { numRuns, seed },
    );
  } finally {
    ext.free();
  }
  return cases;
}
