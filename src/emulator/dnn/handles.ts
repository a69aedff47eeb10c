/**
 * Opaque handles: frozen objects that only this backend makes and recognises by identity.
 * A number, a copy (`{ ...handle }`), a handle of another kind or of an earlier machine
 * (before `emulator.reset()`) is refused, and a released handle says so.
 */

/** One kind of handle and what each stands for. */
export class HandleTable<H extends object, R> {
  private readonly records = new WeakMap<object, R>();
  private readonly kind: string;

  constructor(kind: string) {
    this.kind = kind;
  }

  /** A new handle for `record`. */
  make(record: R): H {
    const handle = Object.freeze(Object.create(HandlePrototype, { kind: { value: this.kind } }));
    this.records.set(handle, record);
    return handle as H;
  }

  /** What `handle` stands for, or undefined when this table did not make it. */
  get(handle: unknown): R | undefined {
    return typeof handle === 'object' && handle !== null ? this.records.get(handle) : undefined;
  }
}

const HandlePrototype = Object.freeze({
  toString(this: { kind: string }) {
    return `[${this.kind}]`;
  },
});
