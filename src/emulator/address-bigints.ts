/**
 * The bigint of a physical address, as an allocation's `phyAddr` holds it, from a small
 * cache of recent addresses.
 *
 * A bigint is an object made per conversion (about 15 ns and 24 bytes of garbage each), and
 * a program that allocates and frees in a loop is handed the same few addresses again. The
 * cache is direct-mapped by 4 KiB page: one entry a way, replaced on a miss, so a lookup
 * is two loads and a compare. Bigints are immutable values, so handing one out to two
 * callers is the same as making two.
 */

/** Entries of the cache (a power of two). */
const WAYS = 1024;
const bigints: bigint[] = new Array<bigint>(WAYS).fill(0n);
const numbers = new Float64Array(WAYS);

/** `BigInt(phyAddr)` for an address (a non-negative safe integer). */
export function addressBigInt(phyAddr: number): bigint {
  const way = (phyAddr / 4096) & (WAYS - 1);
  if (numbers[way] === phyAddr) return bigints[way]!;
  const b = BigInt(phyAddr);
  numbers[way] = phyAddr;
  bigints[way] = b;
  return b;
}
