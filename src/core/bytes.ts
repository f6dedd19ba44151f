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
