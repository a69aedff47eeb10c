/**
 * The views handed out as `virAddr`: Uint8Arrays of a class of their own whose private
 * fields say which mapping they are (the machine, the slot of its row, its id), so that
 * the row, in shared memory, is the truth and the JS heap holds nothing else per
 * allocation.
 *
 * - A private field cannot be read, forged or faked by a program (a Proxy or a getter never
 *   sees it, and `#slot in x` runs no code of x's), and it lives in the view itself: no
 *   WeakMap entry, no property added after construction (which cost a map transition and a
 *   property store per view, and `Object.defineProperty` far more).
 * - `subarray` (a crop, a sub-range mem) makes a view of the same class through the
 *   species constructor, and the constructor copies the parent's tag: a crop is known as
 *   part of its mapping and dies with it, whatever its depth, at no cost per view handed
 *   out.
 * - To a program it is a Uint8Array: `instanceof Uint8Array`, `Buffer.from(v.buffer, …)`,
 *   `set`, `fill`, `subarray` all work; `slice` and `map` return copies of this class
 *   (untagged: they are not mappings). A view cloned to another thread arrives as a plain
 *   Uint8Array (Machine.adopt resolves it there).
 */

/** The tag of a view, read by {@link readTag} into {@link TAG} (no object made per read). */
export interface Tag {
  /** The machine of this thread that handed the view out. */
  owner: object | undefined;
  slot: number;
  id: number;
  /** Where the mapping starts: its region's index + 2 × its first page in the region. */
  loc: number;
  /** Whether this is the view handed out (not a crop of it). */
  whole: boolean;
  /** This thread's object for the mapping, when one was made with it (else undefined). */
  m: object | undefined;
}

/** What the next MappedView constructed takes as its tag (set just before, then cleared). */
const next: Tag = { owner: undefined, slot: -1, id: 0, loc: 0, whole: false, m: undefined };

/** The tag read last by {@link readTag}. */
export const TAG: Tag = { owner: undefined, slot: -1, id: 0, loc: 0, whole: false, m: undefined };

const plainSubarray = Uint8Array.prototype.subarray;

/** A view handed out, or a crop of one. */
export class MappedView extends Uint8Array {
  #owner: object | undefined;
  #slot: number;
  #id: number;
  #loc: number;
  #whole: boolean;
  #m: object | undefined;

  constructor(a: ArrayBufferLike | number, b?: number, c?: number) {
    super(a as ArrayBuffer, b, c);
    this.#owner = next.owner;
    this.#slot = next.slot;
    this.#id = next.id;
    this.#loc = next.loc;
    this.#whole = next.whole;
    this.#m = next.m;
    next.owner = undefined;
    next.m = undefined;
  }

  /**
   * A crop: the plain `subarray`, whose species construction (this class) carries the tag.
   * The arguments are made integers first, so that no program code (a `valueOf`) runs
   * while the tag waits for the construction.
   */
  override subarray(begin?: number, end?: number): MappedView {
    if (!(#slot in this)) return plainSubarray.call(this, begin, end) as MappedView;
    const b = begin === undefined ? 0 : Math.trunc(Number(begin)) || 0;
    const e = end === undefined ? undefined : Math.trunc(Number(end)) || 0;
    next.owner = this.#owner;
    next.slot = this.#slot;
    next.id = this.#id;
    next.loc = this.#loc;
    next.whole = false;
    next.m = this.#m;
    try {
      return plainSubarray.call(this, b, e) as MappedView;
    } finally {
      next.owner = undefined;
      next.m = undefined;
    }
  }

  /** A new view of `[byteOffset, byteOffset + length)` of `buffer`, handed out whole. */
  static handOut(
    buffer: ArrayBufferLike,
    byteOffset: number,
    length: number,
    owner: object,
    slot: number,
    id: number,
    loc: number,
    m: object | undefined,
  ): MappedView {
    next.owner = owner;
    next.slot = slot;
    next.id = id;
    next.loc = loc;
    next.whole = true;
    next.m = m;
    return new MappedView(buffer, byteOffset, length);
  }

  /** Reads `x`'s tag into {@link TAG}; false (TAG untouched) when `x` is no MappedView. */
  static read(x: object): boolean {
    if (!(#slot in x)) return false;
    const v = x as MappedView;
    TAG.owner = v.#owner;
    TAG.slot = v.#slot;
    TAG.id = v.#id;
    TAG.loc = v.#loc;
    TAG.whole = v.#whole;
    TAG.m = v.#m;
    return true;
  }

  /** Gives a view handed out its mapping's object, made after it (the sanitizer's). */
  static attach(view: MappedView, m: object): void {
    view.#m = m;
  }
}
