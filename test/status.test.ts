/** Status codes: what a failure records, and the codes the eight functions may return. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  HB_SYS_OUT_OF_MEMORY,
  HB_SYS_REGISTER_MEM_FAILED,
  hbSysGetErrorDesc,
  hbSysGetLastError,
} from '../src/index.js';
import { fail } from '../src/status.js';

test('a failure records its function, code, name and message', () => {
  assert.equal(fail(HB_SYS_OUT_OF_MEMORY, 'hbSysAllocMem', 'no room'), HB_SYS_OUT_OF_MEMORY);
  assert.deepEqual(hbSysGetLastError(), {
    fn: 'hbSysAllocMem',
    code: HB_SYS_OUT_OF_MEMORY,
    name: 'HB_SYS_OUT_OF_MEMORY',
    message: 'no room',
  });
  assert.equal(
    fail(HB_SYS_REGISTER_MEM_FAILED, 'hbSysRegisterMem', 'x'),
    HB_SYS_REGISTER_MEM_FAILED,
  );
});

test('a code no header lists is passed on unchanged, as C would', () => {
  // A vendor runtime may return a code of its own: typed HbSysUnknownStatus, not dropped.
  for (const code of [-1, 1, -6000001, -6000999]) {
    const message = `libdnn refused: ${hbSysGetErrorDesc(code)}`;
    assert.equal(fail(code, 'hbSysFlushMem', message), code);
    const last = hbSysGetLastError()!;
    assert.equal(last.code, code);
    assert.equal(last.message, message);
  }
});
