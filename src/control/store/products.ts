// Reading the products of a coordinator store, as codis-fe and `codis-admin --dashboard-list`
// do: every product under /codis3, the dashboard that holds its lock, its proxies.

import { decodeProxy, decodeTopom, type Proxy, type Topom } from "../models.js";
import { productsOf, proxyDir, topomPath } from "./layout.js";
import type { Store } from "./store.js";

/** One product with its dashboard's admin address ("" when no dashboard holds the lock). */
export interface ProductEntry {
  name: string;
  dashboard: string;
}

/** The dashboard model of a product (the lock's content); undefined when no dashboard runs. */
export async function readTopom(store: Store, product: string): Promise<Topom | undefined> {
  const text = await store.get(topomPath(product));
  if (text === undefined) return undefined;
  return decodeTopom(JSON.parse(text));
}

/** codis-admin --dashboard-list: every product, sorted, with its dashboard's admin_addr. */
export async function listDashboards(store: Store): Promise<ProductEntry[]> {
  const out: ProductEntry[] = [];
  for (const name of await productsOf(store)) {
    const t = await readTopom(store, name);
    out.push({ name, dashboard: t?.admin_addr ?? "" });
  }
  return out;
}

/** The proxies the product's dashboard registered, sorted by id. */
export async function listProxies(store: Store, product: string): Promise<Proxy[]> {
  const out: Proxy[] = [];
  for (const key of await store.list(proxyDir(product))) {
    const text = await store.get(key);
    if (text !== undefined) out.push(decodeProxy(JSON.parse(text)));
  }
  return out.sort((a, b) => a.id - b.id);
}
