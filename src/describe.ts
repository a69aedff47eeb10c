/**
 * A short description of any value, for failure messages, that runs none of the value's
 * code: no getter, Proxy trap, `toString` or `Symbol.toPrimitive`. A message is written
 * after a call has decided to fail; it must not give a hostile value a second chance to
 * run (or to throw from inside the error path).
 */

import { types } from 'node:util';

export function describe(x: unknown): string {
  try {
    switch (typeof x) {
      case 'bigint':
        return `${x}n`;
      case 'string':
        return `'${x.length > 40 ? `${x.slice(0, 40)}…` : x}'`;
      case 'function':
        return 'a function';
      case 'symbol':
        return x.toString();
      case 'object':
        if (x === null) return 'null';
        if (types.isProxy(x)) return 'a Proxy';
        if (Array.isArray(x)) return 'an array';
        return `an object (${constructorName(x)})`;
      default:
        return String(x);
    }
  } catch {
    return 'a value that cannot be shown';
  }
}

/** The name of `x`'s constructor, read from data properties only. */
function constructorName(x: object): string {
  const proto = Object.getPrototypeOf(x) as object | null;
  if (proto === null) return 'no prototype';
  if (types.isProxy(proto)) return 'a Proxy prototype';
  const ctor = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value as unknown;
  if (typeof ctor !== 'function' || types.isProxy(ctor)) return 'unknown';
  const name = Object.getOwnPropertyDescriptor(ctor, 'name')?.value as unknown;
  return typeof name === 'string' && name !== '' ? name : 'anonymous';
}
