// Decodes one complete reply frame into JavaScript values, for the control plane and tests
// (the data plane never decodes: it forwards bytes). RESP3 types map to the nearest value:
// maps → arrays of [k, v, ...] pairs flattened as Redis's RESP2 form does, sets → arrays,
// doubles and big numbers → strings, booleans → 1/0, null → null. Attributes are dropped.

/** An error reply (-ERR ...), returned as a value so callers can reject with it. */
export class RespErrorValue {
  constructor(readonly message: string) {}
}

export type Decoded = null | string | number | Buffer | RespErrorValue | Decoded[];

/** Decodes the complete frame at buf[pos...]; bulk strings as UTF-8 text unless asBuffers. */
export function decodeReply(buf: Buffer, pos: number, asBuffers: boolean): { value: Decoded; end: number } {
  const t = buf[pos];
  const eol = buf.indexOf(13, pos);
  const line = () => buf.toString("utf8", pos + 1, eol);
  const after = eol + 2;
  switch (t) {
    case 0x2b: // +
    case 0x2c: // , double
    case 0x28: // ( big number
      return { value: line(), end: after };
    case 0x2d: // -
      return { value: new RespErrorValue(line()), end: after };
    case 0x3a: // :
      return { value: Number(line()), end: after };
    case 0x23: // # boolean
      return { value: line() === "t" ? 1 : 0, end: after };
    case 0x5f: // _ null
      return { value: null, end: after };
    case 0x24: // $
    case 0x3d: // = verbatim
    case 0x21: { // ! blob error
      const n = Number(line());
      if (n < 0) return { value: null, end: after };
      let body = buf.subarray(after, after + n);
      if (t === 0x3d) body = body.subarray(4); // "txt:" prefix
      const end = after + n + 2;
      if (t === 0x21) return { value: new RespErrorValue(body.toString("utf8")), end };
      return { value: asBuffers ? Buffer.from(body) : body.toString("utf8"), end };
    }
    case 0x2a: // *
    case 0x7e: // ~ set
    case 0x3e: // > push
    case 0x25: { // % map
      const n = Number(line());
      if (n < 0) return { value: null, end: after };
      const count = t === 0x25 ? 2 * n : n;
      const out: Decoded[] = [];
      let p = after;
      for (let i = 0; i < count; i++) {
        const r = decodeReply(buf, p, asBuffers);
        out.push(r.value);
        p = r.end;
      }
      return { value: out, end: p };
    }
    case 0x7c: { // | attribute: skip it, decode the value it annotates
      const n = Number(line());
      let p = after;
      for (let i = 0; i < 2 * n; i++) p = decodeReply(buf, p, asBuffers).end;
      return decodeReply(buf, p, asBuffers);
    }
    default:
      throw new Error(`unknown RESP type byte ${t}`);
  }
}
