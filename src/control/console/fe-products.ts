// Where `slotway fe` finds the dashboards it fronts (codis-fe's two sources):
//  - a --dashboard-list file: a JSON array of {"name": <product>, "dashboard": "host:port"}, as
//    `codis-admin --dashboard-list` prints it;
//  - a coordinator store: every product under /codis3, with the admin_addr of the dashboard that
//    holds its lock (/codis3/<product>/topom, the models.Topom JSON).
import { promises as fsp } from "node:fs";
import { errText } from "../dashboard/log.js";
import { productsOf, topomPath } from "../store/layout.js";
import type { Store } from "../store/store.js";

/** product name → dashboard address ("host:port"). */
export type ProductMap = Map<string, string>;

export interface ProductSource {
  /** What the source is, for logs ("--dashboard-list FILE", "--filesystem ROOT", ...). */
  readonly what: string;
  load(): Promise<ProductMap>;
  close(): Promise<void>;
}

/** A --dashboard-list file, read again at every load (the operator may edit it). */
export class ListFileSource implements ProductSource {
  readonly what: string;

  constructor(private readonly file: string) {
    this.what = `--dashboard-list ${file}`;
  }

  async load(): Promise<ProductMap> {
    const text = await fsp.readFile(this.file, "utf8");
    let list: unknown;
    try {
      list = JSON.parse(text);
    } catch (e) {
      throw new Error(`${this.file}: invalid JSON, ${errText(e)}`);
    }
    if (!Array.isArray(list)) throw new Error(`${this.file}: want a JSON array of {"name", "dashboard"}`);
    const out: ProductMap = new Map();
    for (const e of list) {
      if (e === null || typeof e !== "object") continue;
      const { name, dashboard } = e as { name?: unknown; dashboard?: unknown };
      // As codis-fe: entries without a name or an address are left out.
      if (typeof name === "string" && typeof dashboard === "string" && name !== "" && dashboard !== "") out.set(name, dashboard);
    }
    return out;
  }

  async close(): Promise<void> {}
}

/** The products of a coordinator store, each with the admin_addr its dashboard published. */
export class StoreSource implements ProductSource {
  constructor(readonly what: string, private readonly store: Store, private readonly warn: (msg: string) => void = () => {}) {}

  async load(): Promise<ProductMap> {
    const out: ProductMap = new Map();
    for (const product of await productsOf(this.store)) {
      let text: string | undefined;
      try {
        text = await this.store.get(topomPath(product));
      } catch (e) {
        this.warn(`read topom of product ${product} failed: ${errText(e)}`);
        continue;
      }
      // No lock: no dashboard runs for that product right now.
      if (text === undefined) continue;
      try {
        const addr = (JSON.parse(text) as { admin_addr?: unknown }).admin_addr;
        if (typeof addr === "string" && addr !== "") out.set(product, addr);
      } catch (e) {
        this.warn(`decode topom of product ${product} failed: ${errText(e)}`);
      }
    }
    return out;
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
