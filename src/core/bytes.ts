// Byte helpers for the hot path.

/** Copies src[start, end) to dst at pos; a JS loop for short ranges beats the native call. */
export function copyRange(src: Buffer, start: number, end: number, dst: Buffer, pos: number): number {
  const len = end - start;
  if (len < 48) {
    for (let i = 0; i < len; i++) dst[pos + i] = src[start + i]!;
  } else {
    src.copy(dst, pos, start, end);
  }
  return len;
}

/**
 * Writes a RESP header line (type byte, decimal n ≥ 0, CRLF) at pos and returns its length.
 * Byte by byte: Buffer#write with a template string costs a call into C++ and a string, which
 * on a split MGET was the largest single cost after the system calls.
 */
export function writeHeader(dst: Buffer, pos: number, type: number, n: number): number {
  let p = pos;
  dst[p++] = type;
  if (n < 10) {
    dst[p++] = 48 + n;
  } else {
    let div = 10;
    while (div * 10 <= n) div *= 10;
    for (; div >= 1; div = (div / 10) | 0) {
      const d = (n / div) | 0;
      dst[p++] = 48 + d;
      n -= d * div;
      if (div === 1) break;
    }
  }
  dst[p++] = 13;
  dst[p++] = 10;
  return p - pos;
}

/** The length of writeHeader's line for n. */
export function headerLength(n: number): number {
  let digits = 1;
  while (n >= 10) {
    n = (n / 10) | 0;
    digits++;
  }
  return digits + 3;
}
