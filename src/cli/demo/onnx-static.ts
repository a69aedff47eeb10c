/**
 * A copy of an ONNX model whose graph inputs and outputs declare fixed shapes.
 *
 * Why: the board runs static shapes only, and the vendor's toolchain fixes a dynamic model's
 * shapes when it compiles it (`input_shape` in the config). The emulator takes input shapes
 * from the config's `input_shape`, but reads output shapes from the ONNX alone, so a model
 * exported with dynamic outputs (as PaddleOCR's are) must declare them before it can be
 * loaded. Only the shapes of the named graph values change; every other byte of the model
 * (weights, nodes) is copied as it is.
 */

/** One protobuf field: its number, wire type and where its bytes are. */
interface Field {
  readonly num: number;
  readonly wire: number;
  /** The whole field, key included. */
  readonly start: number;
  readonly end: number;
  /** The payload of a length-delimited field. */
  readonly body: Uint8Array | undefined;
}

function varint(buf: Uint8Array, at: { pos: number }): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    const b = buf[at.pos++];
    if (b === undefined) throw new Error('the model ends inside a number');
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return value;
    scale *= 128;
  }
  throw new Error('the model has a number longer than 10 bytes');
}

function fields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  const at = { pos: 0 };
  while (at.pos < buf.length) {
    const start = at.pos;
    const key = varint(buf, at);
    const wire = key & 7;
    let body: Uint8Array | undefined;
    if (wire === 0) varint(buf, at);
    else if (wire === 1) at.pos += 8;
    else if (wire === 5) at.pos += 4;
    else if (wire === 2) {
      const n = varint(buf, at);
      body = buf.subarray(at.pos, at.pos + n);
      at.pos += n;
    } else throw new Error(`the model has protobuf wire type ${wire}, which ONNX does not use`);
    if (at.pos > buf.length) throw new Error('a field of the model runs past its end');
    out.push({ num: Math.floor(key / 8), wire, start, end: at.pos, body });
  }
  return out;
}

function encodeVarint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

function lengthDelimited(num: number, body: Uint8Array): Uint8Array {
  const head = [...encodeVarint(num * 8 + 2), ...encodeVarint(body.length)];
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** `buf` with some length-delimited fields replaced (`replace` returns their new payload). */
function rewrite(buf: Uint8Array, replace: (f: Field) => Uint8Array | undefined): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of fields(buf)) {
    const body = f.wire === 2 ? replace(f) : undefined;
    parts.push(body === undefined ? buf.subarray(f.start, f.end) : lengthDelimited(f.num, body));
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** TensorShapeProto { dim: [{ dim_value }] }. */
function shapeProto(dims: readonly number[]): Uint8Array {
  const parts = dims.map((d) => lengthDelimited(1, Uint8Array.from([8, ...encodeVarint(d)])));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const decoder = new TextDecoder();

/**
 * The model with the shape of each graph input or output named in `shapes` set to those
 * sizes. Throws when a named value is missing, so a wrong name cannot pass unnoticed.
 */
export function withStaticShapes(
  model: Uint8Array,
  shapes: Readonly<Record<string, readonly number[]>>,
): Uint8Array {
  const seen = new Set<string>();
  // ModelProto.graph (7) → GraphProto.input (11) / output (12) → ValueInfoProto.type (2)
  // → TypeProto.tensor_type (1) → TypeProto.Tensor.shape (2).
  const out = rewrite(model, (m) =>
    m.num !== 7
      ? undefined
      : rewrite(m.body!, (g) => {
          if (g.num !== 11 && g.num !== 12) return undefined;
          const nameField = fields(g.body!).find((f) => f.num === 1 && f.wire === 2);
          const name = nameField === undefined ? '' : decoder.decode(nameField.body);
          const dims = shapes[name];
          if (dims === undefined) return undefined;
          seen.add(name);
          return rewrite(g.body!, (v) =>
            v.num !== 2
              ? undefined
              : rewrite(v.body!, (t) =>
                  t.num !== 1
                    ? undefined
                    : rewrite(t.body!, (s) => (s.num === 2 ? shapeProto(dims) : undefined)),
                ),
          );
        }),
  );
  const missing = Object.keys(shapes).filter((n) => !seen.has(n));
  if (missing.length > 0) {
    throw new Error(`the model has no graph input or output named ${missing.join(', ')}`);
  }
  return out;
}
