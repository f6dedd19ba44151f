// The codis key layout in the coordinator store, and the key rules every store enforces.
//
// Paths follow codis 3.2 `pkg/models/store.go` (LockPath, SlotPath, GroupPath, ProxyPath,
// SentinelPath, ValidateProduct) so that codis-fe, codis-admin and codis-proxy pointed at
// the same coordinator find the same nodes:
//
//   /codis3/<product>/topom                 the dashboard lock; its content is models.Topom JSON
//   /codis3/<product>/slots/slot-%04d       one per slot mapping (0..1023)
//   /codis3/<product>/group/group-%04d      one per group
//   /codis3/<product>/proxy/proxy-<token>   one per proxy
//   /codis3/<product>/sentinel              the sentinel model

import type { Store } from "./store.js";

export const CODIS_DIR = "/codis3";

// codis ValidateProduct: `^\w[\w\.\-]*$`, where Go's \w is ASCII [0-9A-Za-z_]. Checking it here
// also keeps a product name from ever being a path segment such as "..".
const PRODUCT_RE = /^[0-9A-Za-z_][0-9A-Za-z_.-]*$/;

/** Throws codis's `bad product name = <name>` unless the name is a valid product name. */
export function checkProduct(product: string): string {
  if (!PRODUCT_RE.test(product)) throw new Error(`bad product name = ${product}`);
  return product;
}

function pad4(what: string, n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`invalid ${what} = ${n}`);
  return String(n).padStart(4, "0");
}

/** `/codis3/<product>` */
export function productDir(product: string): string {
  return `${CODIS_DIR}/${checkProduct(product)}`;
}

/** `/codis3/<product>/topom`: the dashboard lock (codis LockPath). */
export function topomPath(product: string): string {
  return `${productDir(product)}/topom`;
}

/** `/codis3/<product>/slots` (codis reads the 1024 slot paths one by one, never lists this). */
export function slotsDir(product: string): string {
  return `${productDir(product)}/slots`;
}

/** `/codis3/<product>/slots/slot-%04d` */
export function slotPath(product: string, sid: number): string {
  return `${slotsDir(product)}/slot-${pad4("sid", sid)}`;
}

/** `/codis3/<product>/group` */
export function groupDir(product: string): string {
  return `${productDir(product)}/group`;
}

/** `/codis3/<product>/group/group-%04d` */
export function groupPath(product: string, gid: number): string {
  return `${groupDir(product)}/group-${pad4("gid", gid)}`;
}

/** `/codis3/<product>/proxy` */
export function proxyDir(product: string): string {
  return `${productDir(product)}/proxy`;
}

/** `/codis3/<product>/proxy/proxy-<token>` */
export function proxyPath(product: string, token: string): string {
  // Tokens are hex digests in codis; anything that could leave the folder is refused.
  if (token === "" || token.includes("/") || token.includes("\0")) throw new Error(`invalid token = ${token}`);
  return `${proxyDir(product)}/proxy-${token}`;
}

/** `/codis3/<product>/sentinel` */
export function sentinelPath(product: string): string {
  return `${productDir(product)}/sentinel`;
}

/** The product names found under /codis3 (what codis-fe lists), sorted. */
export async function productsOf(store: Store): Promise<string[]> {
  const children = await store.list(CODIS_DIR);
  return children.map((k) => k.slice(CODIS_DIR.length + 1)).filter((p) => PRODUCT_RE.test(p));
}

/**
 * Checks a store key: absolute, "/"-separated, no empty, "." or ".." segment, no NUL, and no
 * segment starting with "." (the file store keeps its temp and owner files under such names,
 * so reserving them means no key can collide with one). Returns the key.
 */
export function checkKey(key: string): string {
  if (!key.startsWith("/") || key.length < 2) throw new Error(`store: invalid key ${JSON.stringify(key)}: must be an absolute path`);
  if (key.includes("\0")) throw new Error(`store: invalid key ${JSON.stringify(key)}: contains NUL`);
  for (const seg of key.slice(1).split("/")) {
    if (seg === "") throw new Error(`store: invalid key ${JSON.stringify(key)}: empty segment`);
    if (seg.startsWith(".")) throw new Error(`store: invalid key ${JSON.stringify(key)}: segment ${JSON.stringify(seg)} starts with "."`);
  }
  return key;
}

/** Checks a folder path given to `list`: "/" or a valid key, one trailing "/" allowed. Returns it without the slash. */
export function checkDir(dir: string): string {
  if (dir === "/") return "";
  return checkKey(dir.endsWith("/") ? dir.slice(0, -1) : dir);
}
