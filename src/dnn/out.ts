/**
 * Writing out-parameters, last and all-or-nothing: a pointer out-parameter is an object
 * whose `value` the call sets; a struct out-parameter an object whose fields it sets. The
 * fields' previous state is kept as property descriptors (reading a descriptor runs no
 * getter), so that a write that fails halfway is undone.
 */

type Saved = { target: object; key: string; descriptor: PropertyDescriptor | undefined };

/** Whether `key` of `x` can be set: an own writable or settable field, or room for one. */
export function canSet(x: unknown, key: string): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null || ArrayBuffer.isView(x) || Array.isArray(x))
    return false;
  try {
    const d = Object.getOwnPropertyDescriptor(x, key);
    if (d === undefined) return Object.isExtensible(x);
    return d.set !== undefined || d.writable === true;
  } catch {
    return false; // a Proxy whose trap throws
  }
}

/**
 * Sets each `[target, key, value]` in order. Returns true, or, when a write throws, undoes
 * the earlier ones and returns false.
 */
export function setAll(writes: readonly (readonly [object, string, unknown])[]): boolean {
  const saved: Saved[] = [];
  try {
    for (const [target, key, value] of writes) {
      saved.push({ target, key, descriptor: Object.getOwnPropertyDescriptor(target, key) });
      (target as Record<string, unknown>)[key] = value;
    }
    return true;
  } catch {
    for (const s of saved.reverse()) {
      try {
        if (s.descriptor === undefined) Reflect.deleteProperty(s.target, s.key);
        else if ('value' in s.descriptor) Object.defineProperty(s.target, s.key, s.descriptor);
      } catch {
        // Best effort: an object that refuses both the write and the undo keeps what it has.
      }
    }
    return false;
  }
}
