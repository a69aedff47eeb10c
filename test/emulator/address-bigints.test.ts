import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { addressBigInt } from '../../src/emulator/address-bigints.js';

describe('addressBigInt', () => {
  it('is BigInt(address) for every address, whatever the addresses asked before', () => {
    // Addresses of one page, of pages that share a way of the cache, and anywhere.
    const address = fc.oneof(
      fc.integer({ min: 0, max: 4096 * 4 }),
      fc.integer({ min: 0, max: 64 }).map((k) => 0x0400_0000 + k * 4096 * 1024),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    );
    fc.assert(
      fc.property(fc.array(address, { maxLength: 200 }), (addresses) => {
        for (const a of addresses) assert.equal(addressBigInt(a), BigInt(a));
      }),
    );
  });

  it('answers an address asked again from the cache, with the same value', () => {
    const a = 0x0400_1000;
    const first = addressBigInt(a);
    assert.equal(addressBigInt(a), first);
    // Another address of the same way replaces it; the first is made anew, equal as before.
    assert.equal(addressBigInt(a + 4096 * 1024), BigInt(a + 4096 * 1024));
    assert.equal(addressBigInt(a), BigInt(a));
  });
});
