/** Status codes: what a failure records, and the codes the eight functions may return. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_OUT_OF_MEMORY,
  HB_SYS_REGISTER_MEM_FAILED,
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

test('a code hb_sys.h does not list becomes INVALID_ARGUMENT, so the types hold', () => {
  // A vendor runtime may return a code of its own; the eight functions are typed to return
  // the four of the header only, and the message keeps what the runtime said.
  for (const code of [-1, 1, -6000001, 0, 42.5]) {
    const message = `libdnn refused: unknown status code ${code}`;
    assert.equal(fail(code, 'hbSysFlushMem', message), HB_SYS_INVALID_ARGUMENT);
    assert.deepEqual(hbSysGetLastError(), {
      fn: 'hbSysFlushMem',
      code: HB_SYS_INVALID_ARGUMENT,
      name: 'HB_SYS_INVALID_ARGUMENT',
      message,
    });
  }
});
