import { createHash } from "node:crypto";

/**
 * codis's xauth: SHA-256 of "Codis-XAuth" followed by "-[<seg>]" for every segment, first 16
 * bytes as lower-case hex. The dashboard uses one segment (product_name); a proxy uses three
 * (product_name, product_auth, token).
 */
export function xauth(...segments: string[]): string {
  const text = "Codis-XAuth" + segments.map((s) => `-[${s}]`).join("");
  return createHash("sha256").update(text).digest("hex").slice(0, 32);
}
