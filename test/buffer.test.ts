/** The idiomatic API: allocate, register, typed views, flush methods, errors, `using`. */

import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import {
  allocate,
  emulator,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_OUT_OF_MEMORY,
  HB_SYS_REGISTER_MEM_FAILED,
  HB_SYS_SUCCESS,
  HbSysError,
  hbSysFreeMem,
  hbSysWriteMem,
  register,
} from '../src/index.js';
import { smallMachine } from './helpers.js';

function code(expected: number) {
  return (e: unknown) => {
    assert.ok(e instanceof HbSysError, `expected an HbSysError, got ${String(e)}`);
    assert.equal(e.code, expected);
    return true;
  };
}

describe('allocate', () => {
  beforeEach(() => smallMachine());

  test('a buffer with its address, size, kind, label and mem', () => {
    const b = allocate(1000, { cached: true, label: 'tensor' });
    assert.equal(b.size, 1000);
    assert.equal(b.cached, true);
    assert.equal(b.label, 'tensor');
    assert.equal(b.kind, 'allocation');
    assert.equal(b.phyAddr, b.mem.phyAddr);
    assert.equal(b.bytes.byteLength, 1000);
    assert.equal(allocate(1).cached, false);
  });

  test('write, clean, BPU copy, invalidate, read: the round trip a pipeline does', async () => {
    using input = allocate(256, { cached: true });
    using output = allocate(256, { cached: true });
    const data = Uint8Array.from({ length: 256 }, (_, i) => i);
    input.write(data).clean();
    await emulator.bpu.copy(output.phyAddr, input.phyAddr, 256);
    assert.deepEqual(output.read(), new Uint8Array(256), 'stale before invalidate');
    assert.deepEqual(output.invalidate().read(), data);
  });

  test('typed views share the mapping; offsets and lengths are checked', () => {
    using b = allocate(64);
    const f = b.view(Float32Array);
    assert.equal(f.length, 16);
    f[1] = 1.5;
    assert.equal(new DataView(b.bytes.buffer, b.bytes.byteOffset).getFloat32(4, true), 1.5);
    assert.equal(b.view(Int32Array, 8, 2).length, 2);
    assert.throws(() => b.view(Float32Array, 2), code(HB_SYS_INVALID_ARGUMENT));
    assert.throws(() => b.view(Float32Array, 0, 17), code(HB_SYS_INVALID_ARGUMENT));
  });

  test('write and read at offsets, and out-of-range ones throw without copying', () => {
    using b = allocate(16);
    b.write(new Uint8Array([9, 8]), 14);
    assert.deepEqual(b.read(new Uint8Array(2), 14), new Uint8Array([9, 8]));
    assert.deepEqual(b.read(undefined, 15), new Uint8Array([8]));
    assert.throws(() => b.write(new Uint8Array(3), 14), code(HB_SYS_INVALID_ARGUMENT));
    assert.throws(() => b.write(new Uint8Array(1), -1), code(HB_SYS_INVALID_ARGUMENT));
    assert.throws(() => b.write('abc' as never), code(HB_SYS_INVALID_ARGUMENT));
    assert.throws(() => b.read(new Uint8Array(4), 14), code(HB_SYS_INVALID_ARGUMENT));
    assert.throws(() => b.read(undefined, 17), code(HB_SYS_INVALID_ARGUMENT));
    assert.equal(b.bytes[13], 0);
  });

  test('errors carry the status code and name, with the reason', () => {
    assert.throws(
      () => allocate(2 << 20),
      (e: unknown) => {
        assert.ok(e instanceof HbSysError);
        assert.equal(e.code, HB_SYS_OUT_OF_MEMORY);
        assert.equal(e.status, 'HB_SYS_OUT_OF_MEMORY');
        assert.match(e.message, /hbSysAllocMem: no room for 2097152 bytes/);
        return true;
      },
    );
    assert.throws(() => allocate(0), code(HB_SYS_INVALID_ARGUMENT));
    assert.throws(() => allocate(1.5), code(HB_SYS_INVALID_ARGUMENT));
    assert.throws(() => allocate(8, { cached: 'yes' } as never), code(HB_SYS_INVALID_ARGUMENT));
    assert.throws(() => allocate(8, { label: 5 } as never), code(HB_SYS_INVALID_ARGUMENT));
    assert.throws(() => allocate(8, null as never), code(HB_SYS_INVALID_ARGUMENT));
    assert.equal(emulator.stats().allocationCount, 0, 'nothing leaked by failures');
  });

  test('use after free throws; a second free throws; dispose after free does nothing', () => {
    const b = allocate(64, { label: 'x' });
    b.free();
    assert.equal(b.freed, true);
    assert.throws(() => b.bytes, /buffer 'x' at 0x04000000: bytes: this buffer was freed/);
    assert.throws(() => b.write(new Uint8Array(1)), code(HB_SYS_INVALID_ARGUMENT));
    assert.throws(() => b.read(), code(HB_SYS_INVALID_ARGUMENT));
    assert.throws(() => b.clean(), code(HB_SYS_INVALID_ARGUMENT));
    assert.throws(() => b.view(Uint8Array), code(HB_SYS_INVALID_ARGUMENT));
    assert.throws(() => b.free(), code(HB_SYS_INVALID_ARGUMENT));
    b[Symbol.dispose]();
    assert.equal(emulator.stats().allocationCount, 0);
  });

  test('a buffer freed through its mem by the C-style call knows it', () => {
    const b = allocate(64);
    assert.equal(hbSysFreeMem(b.mem), HB_SYS_SUCCESS);
    assert.equal(b.freed, true);
    assert.throws(() => b.bytes, code(HB_SYS_INVALID_ARGUMENT));
    b[Symbol.dispose]();
  });

  test('using frees at the end of the block, even when it throws', () => {
    assert.throws(() => {
      using _b = allocate(64);
      assert.equal(emulator.stats().allocationCount, 1);
      throw new Error('inside');
    }, /inside/);
    assert.equal(emulator.stats().allocationCount, 0);
  });

  test('mem works with the C-style functions', () => {
    using b = allocate(8);
    assert.equal(hbSysWriteMem(b.mem, new Uint8Array([5]), 1), HB_SYS_SUCCESS);
    assert.equal(b.read()[0], 5);
  });
});

describe('register', () => {
  beforeEach(() => smallMachine());

  test('a VIO buffer as a cached buffer; free() unregisters and keeps the memory', () => {
    const frame = emulator.vio.alloc(4096);
    emulator.vio.write(frame.phyAddr, new Uint8Array(16).fill(0x55));
    const b = register(frame.phyAddr, 4096, { label: 'camera' });
    assert.equal(b.kind, 'registration');
    assert.equal(b.cached, true);
    assert.equal(b.invalidate().read()[15], 0x55);
    b.free();
    assert.equal(emulator.stats().registrationCount, 0);
    assert.equal(emulator.peek(frame.phyAddr, 1)[0], 0x55);
    emulator.vio.free(frame.phyAddr);
  });

  test('an unknown range throws REGISTER_MEM_FAILED; a bad address INVALID_ARGUMENT', () => {
    assert.throws(() => register(0x10n, 64), code(HB_SYS_REGISTER_MEM_FAILED));
    assert.throws(() => register(16 as never, 64), code(HB_SYS_INVALID_ARGUMENT));
    assert.throws(() => register(0x0400_0000n, 0), code(HB_SYS_INVALID_ARGUMENT));
  });
});
