// jodis: a proxy that is online registers itself as an ephemeral node, so that jodis clients
// (codis's Java client and the like) find the live proxies of a product in ZooKeeper or etcd.
// codis's rules (pkg/proxy/jodis.go, proxy.go): the node is /jodis/<product>/proxy-<token>, or
// /zk/codis/db_<product>/proxy/<token> with jodis_compatible (codis 2's layout); its content is
// {"addr", "admin", "start", "state": "online", "token"} indented with 4 spaces; it is created
// when the proxy goes online, made again whenever it is lost (1 s, 2 s, ... 30 s between tries),
// and removed when the proxy stops.

import { openStore, canEphemeral, type Ephemeral, type EphemeralStore } from "./store/index.js";
import { checkProduct } from "./store/layout.js";

export interface JodisOptions {
  /** jodis_name: zookeeper (zk), etcd or etcdv2. */
  name: string;
  addr: string;
  auth: string;
  /** jodis_timeout in ms: session timeout (ZooKeeper) or TTL (etcd). */
  timeoutMs: number;
  compatible: boolean;
  product: string;
  token: string;
  proxyAddr: string;
  adminAddr: string;
  startTime: string;
  log: { warn(msg: string): void };
}

/** The node path codis gives a proxy's jodis registration. */
export function jodisPath(product: string, token: string, compatible: boolean): string {
  checkProduct(product);
  return compatible ? `/zk/codis/db_${product}/proxy/${token}` : `/jodis/${product}/proxy-${token}`;
}

/** The node's content, as codis writes it (Go's json.MarshalIndent of a map: sorted keys). */
export function jodisData(o: Pick<JodisOptions, "proxyAddr" | "adminAddr" | "startTime" | "token">): string {
  const m = { addr: o.proxyAddr, admin: o.adminAddr, start: o.startTime, state: "online", token: o.token };
  return JSON.stringify(m, null, 4);
}

export class Jodis {
  readonly path: string;
  readonly data: string;
  private store: EphemeralStore | null = null;
  private current: Ephemeral | null = null;
  private running: Promise<void> | null = null;
  private closed = false;
  private wake: (() => void) | null = null;

  constructor(private readonly o: JodisOptions) {
    this.path = jodisPath(o.product, o.token, o.compatible);
    this.data = jodisData(o);
  }

  /** Starts registering (idempotent); runs until close(). */
  start(): void {
    if (this.running || this.closed) return;
    this.running = this.loop();
  }

  /** Removes the node and closes the coordinator connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    await this.running;
    const cur = this.current;
    this.current = null;
    if (cur) {
      try {
        await cur.remove();
        this.o.log.warn(`jodis remove node ${this.path}`);
      } catch (e) {
        this.o.log.warn(`jodis remove node ${this.path} failed: ${(e as Error).message}`);
      }
    }
    await this.store?.close().catch(() => undefined);
  }

  private async loop(): Promise<void> {
    let delay = 1;
    while (!this.closed) {
      try {
        if (!this.store) {
          const s = await openStore(this.o.name, this.o.addr, this.o.auth || undefined, {
            ttlSeconds: Math.max(1, Math.ceil(this.o.timeoutMs / 1000)),
          });
          if (!canEphemeral(s)) throw new Error(`coordinator ${this.o.name} cannot keep ephemeral nodes`);
          this.store = s;
        }
        const eph = await this.store.createEphemeral(this.path, this.data);
        if (this.closed) {
          await eph.remove().catch(() => undefined);
          return;
        }
        this.current = eph;
        this.o.log.warn(`jodis create node ${this.path}`);
        delay = 1;
        const why = await Promise.race([eph.lost, this.sleep(-1)]);
        if (this.closed) return;
        this.current = null;
        this.o.log.warn(`jodis node ${this.path} lost: ${why instanceof Error ? why.message : "closed"}`);
        // Whatever is left of it (a change by someone else) goes before it is made again.
        await eph.remove().catch(() => undefined);
      } catch (e) {
        this.o.log.warn(`jodis create node ${this.path} failed: ${(e as Error).message}`);
        await this.sleep(delay * 1000);
        delay = Math.min(30, delay * 2);
      }
    }
  }

  /** Waits ms (for ever when negative), or until close(). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = ms >= 0 ? setTimeout(done, ms) : undefined;
      const self = this;
      function done(): void {
        clearTimeout(t);
        if (self.wake === done) self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }
}
