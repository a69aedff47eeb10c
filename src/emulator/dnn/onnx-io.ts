/**
 * The inputs and outputs of an ONNX model (names, element types, shapes), read straight from
 * the protobuf bytes of `ModelProto.graph.input/output`.
 *
 * Why a reader of our own: the main thread needs these facts synchronously, to answer the
 * property queries, without loading the ONNX runtime (which lives in the BPU worker, and is
 * optional); and the generated protobuf packages are large (onnx-proto and protobufjs are
 * tens of megabytes) for five small messages. Everything else in the file is skipped by its
 * wire type, unread.
 */

/** One graph input or output. */
export interface OnnxValue {
  readonly name: string;
  /** `TensorProto.DataType` (1 = FLOAT, …); 0 when the value is not a tensor. */
  readonly elemType: number;
  /** Each dimension: a size, a symbolic name (dynamic), or undefined when neither is set. */
  readonly dims: readonly (number | string | undefined)[] | undefined;
}

export interface OnnxIo {
  readonly graphName: string;
  /** Graph inputs less the initializers (weights that older exporters list as inputs). */
  readonly inputs: readonly OnnxValue[];
  readonly outputs: readonly OnnxValue[];
}

/** Thrown for bytes that are not an ONNX model. */
export class NotOnnxError extends Error {}

/** Reads the graph's inputs and outputs; throws NotOnnxError for anything else. */
export function readOnnxIo(bytes: Uint8Array): OnnxIo {
  let graph: Uint8Array | undefined;
  let irVersion = 0;
  forEachField(bytes, (field, wire, r) => {
    if (field === 1 && wire === 0) irVersion = r.varint();
    else if (field === 7 && wire === 2) graph = r.bytes();
    else r.skip(wire);
  });
  if (graph === undefined || irVersion < 1) {
    throw new NotOnnxError('it has no ONNX graph (ModelProto.graph) or IR version');
  }
  let graphName = '';
  const inputs: OnnxValue[] = [];
  const outputs: OnnxValue[] = [];
  const initializers = new Set<string>();
  forEachField(graph, (field, wire, r) => {
    if (field === 2 && wire === 2) graphName = r.string();
    else if (field === 11 && wire === 2) inputs.push(readValueInfo(r.bytes()));
    else if (field === 12 && wire === 2) outputs.push(readValueInfo(r.bytes()));
    else if (field === 5 && wire === 2) initializers.add(readTensorName(r.bytes()));
    else r.skip(wire);
  });
  if (outputs.length === 0) throw new NotOnnxError('its graph has no outputs');
  return { graphName, inputs: inputs.filter((i) => !initializers.has(i.name)), outputs };
}

function readValueInfo(bytes: Uint8Array): OnnxValue {
  let name = '';
  let elemType = 0;
  let dims: (number | string | undefined)[] | undefined;
  forEachField(bytes, (field, wire, r) => {
    if (field === 1 && wire === 2) name = r.string();
    else if (field === 2 && wire === 2) {
      forEachField(r.bytes(), (f, w, t) => {
        // TypeProto.tensor_type; other kinds (sequence, map, …) leave elemType 0.
        if (f === 1 && w === 2) {
          forEachField(t.bytes(), (f2, w2, u) => {
            if (f2 === 1 && w2 === 0) elemType = u.varint();
            else if (f2 === 2 && w2 === 2) dims = readShape(u.bytes());
            else u.skip(w2);
          });
        } else t.skip(w);
      });
    } else r.skip(wire);
  });
  return { name, elemType, dims };
}

function readShape(bytes: Uint8Array): (number | string | undefined)[] {
  const dims: (number | string | undefined)[] = [];
  forEachField(bytes, (field, wire, r) => {
    if (field !== 1 || wire !== 2) return r.skip(wire);
    let dim: number | string | undefined;
    forEachField(r.bytes(), (f, w, d) => {
      if (f === 1 && w === 0) dim = d.varint();
      else if (f === 2 && w === 2) dim = d.string();
      else d.skip(w);
    });
    dims.push(dim);
  });
  return dims;
}

function readTensorName(bytes: Uint8Array): string {
  let name = '';
  forEachField(bytes, (field, wire, r) => {
    if (field === 8 && wire === 2) name = r.string();
    else r.skip(wire);
  });
  return name;
}

/** A cursor over one message's bytes. */
class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** A varint up to 2^53 (sizes, enums, field keys); larger or negative is not ONNX. */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new NotOnnxError('it ends inside a number');
      const b = this.buf[this.pos++]!;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (value > Number.MAX_SAFE_INTEGER) throw new NotOnnxError('a number is out of range');
        return value;
      }
      scale *= 128;
    }
    throw new NotOnnxError('a number is longer than 10 bytes');
  }

  bytes(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.buf.length) throw new NotOnnxError('a field runs past the end');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    return new TextDecoder('utf-8', { fatal: false }).decode(this.bytes());
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.advance(8);
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.advance(4);
    else throw new NotOnnxError(`wire type ${wire} is not protobuf as ONNX writes it`);
  }

  private advance(n: number): void {
    if (this.pos + n > this.buf.length) throw new NotOnnxError('a field runs past the end');
    this.pos += n;
  }
}

function forEachField(
  bytes: Uint8Array,
  visit: (field: number, wire: number, r: Reader) => void,
): void {
  const r = new Reader(bytes);
  while (!r.done) {
    const key = r.varint();
    const field = Math.floor(key / 8);
    if (field === 0) throw new NotOnnxError('a field number is 0');
    visit(field, key & 7, r);
  }
}
