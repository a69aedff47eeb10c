/**
 * The views handed out as `virAddr`: Uint8Arrays of a class of their own whose private
 * field says which mapping they are (its id), so that the row, in shared memory, is the
 * truth and the JS heap holds nothing else per allocation. Ids are never reused within a
 * thread's machines (a new machine continues where the last one stopped), so a view of a
 * freed allocation, or of a machine replaced since, never matches a live row.
 *
 * - A private field cannot be read, forged or faked by a program (a Proxy or a getter never
 *   sees it, and `#tag in x` runs no code of x's), and it lives in the view itself: no
 *   WeakMap entry, no property added after construction (which cost a map transition and a
 *   property store per view, and `Object.defineProperty` far more).
 * - `subarray` (a crop, a sub-range mem) makes a view of the same class through the
 *   species constructor, and the constructor copies the parent's tag: a crop is known as
 *   part of its mapping and dies with it, whatever its depth, at no cost per view handed
 *   out.
 * - To a program it is a Uint8Array: `instanceof Uint8Array`, `Buffer.from(v.buffer, …)`,
 *   `set`, `fill`, `subarray` all work; `slice` and `map` return copies of this class
 *   (untagged: they are not mappings). A view cloned to another thread arrives as a plain
 *   Uint8Array (Handles.adopt resolves it there, handles.ts).
 */

/**
 * What a view carries: the id of the allocation it maps (the plain path: the row and the
 * page → slot table say the rest), positive for the view handed out and negative for a crop
 * of it; or this thread's object for the mapping, when one was made with it (the
 * sanitizer's, a registration's).
 */
export type ViewTag = number | object;

/** What the next MappedView constructed takes as its tag (set just before, then cleared). */
let next: ViewTag | undefined;

const plainSubarray = Uint8Array.prototype.subarray;

/** A view handed out, or a crop of one. */
export class MappedView extends Uint8Array {
  // One field: each costs 8 bytes in every view, and the views are most of the JS heap
  // an allocation takes.
  #tag: ViewTag | undefined;

  constructor(a: ArrayBufferLike | number, b?: number, c?: number) {
    super(a as ArrayBuffer, b, c);
    this.#tag = next;
    next = undefined;
  }

  /**
   * A crop: the plain `subarray`, whose species construction (this class) carries the tag.
   * The arguments are made integers first, so that no program code (a `valueOf`) runs
   * while the tag waits for the construction.
   */
  override subarray(begin?: number, end?: number): MappedView {
    if (!(#tag in this)) return plainSubarray.call(this, begin, end) as MappedView;
    const b = begin === undefined ? 0 : Math.trunc(Number(begin)) || 0;
    const e = end === undefined ? undefined : Math.trunc(Number(end)) || 0;
    const tag = this.#tag;
    next = typeof tag === 'number' ? -Math.abs(tag) : tag;
    try {
      return plainSubarray.call(this, b, e) as MappedView;
    } finally {
      next = undefined;
    }
  }

  /** A new view of `[byteOffset, byteOffset + length)` of `buffer`, handed out whole. */
  static handOut(
    buffer: ArrayBufferLike,
    byteOffset: number,
    length: number,
    tag: ViewTag,
  ): MappedView {
    next = tag;
    return new MappedView(buffer, byteOffset, length);
  }

  /** `x`'s tag, or undefined when `x` is no MappedView (or one a program made). */
  static tagOf(x: object): ViewTag | undefined {
    return #tag in x ? (x as MappedView).#tag : undefined;
  }
}
