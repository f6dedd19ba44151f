// The dashboard's proxies (codis topom_proxy.go): register, bring online (fillslots of every
// slot, start, sentinels), re-init and remove proxies, and bring back a registered proxy that
// restarted (it reports online:false in its stats).
import { ApiError } from "../http.js";
import { encodeProxy, toSlots, type Proxy, type ProxyStats } from "../models.js";
import { ProxyClient } from "../proxy-client.js";
import { errText } from "./log.js";
import type { Topom } from "./topom.js";

export class ProxyOps {
  /** Proxies being brought back online by the stats loop (one at a time per proxy). */
  private readonly autoOnline = new Set<string>();
  /** When each proxy last finished a reinit: a stats reply older than that is stale. */
  private readonly reinitAt = new Map<string, number>();

  constructor(private readonly t: Topom) {}

  createProxy(addr: string): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      const p = await new ProxyClient(addr, "", this.t.opts.proxyClient).model().catch((e) => {
        throw new ApiError(`proxy@${addr} fetch model failed, ${errText(e)}`);
      });
      const c = this.t.proxyClient(p);
      await c.xping().catch((e) => {
        throw new ApiError(`proxy@${addr} check xauth failed, ${errText(e)}`);
      });
      if (topo.proxies.has(p.token)) throw new ApiError(`proxy-[${p.token}] already exists`);
      p.id = topo.maxProxyId() + 1;
      await topo.createProxy(p);
      await this.reinit(p, c);
    });
  }

  onlineProxy(addr: string): Promise<void> {
    return this.t.withLock(() => this.onlineProxyLocked(addr));
  }

  private async onlineProxyLocked(addr: string): Promise<void> {
    const topo = this.t.topology();
    const p = await new ProxyClient(addr, "", this.t.opts.proxyClient).model().catch((e) => {
      this.t.log.warn(`proxy@${addr} fetch model failed: ${errText(e)}`);
      throw new ApiError(`proxy@${addr} fetch model failed`);
    });
    const c = this.t.proxyClient(p);
    await c.xping().catch((e) => {
      this.t.log.warn(`proxy@${addr} check xauth failed: ${errText(e)}`);
      throw new ApiError(`proxy@${addr} check xauth failed`);
    });
    const known = topo.proxies.get(p.token);
    if (known) {
      p.id = known.id;
      await topo.updateProxy(p);
    } else {
      p.id = topo.maxProxyId() + 1;
      await topo.createProxy(p);
    }
    await this.reinit(p, c);
  }

  reinitProxy(token: string): Promise<void> {
    return this.t.withLock(async () => {
      const p = this.t.topology().getProxy(token);
      await this.reinit(p, this.t.proxyClient(p));
    });
  }

  removeProxy(token: string, force: boolean): Promise<void> {
    return this.t.withLock(async () => {
      const topo = this.t.topology();
      const p = topo.getProxy(token);
      try {
        await this.t.proxyClient(p).shutdown();
      } catch (e) {
        this.t.log.warn(`proxy-[${token}] shutdown failed, force remove = ${force}: ${errText(e)}`);
        if (!force) throw new ApiError(`proxy-[${p.token}] shutdown failed`);
      }
      await topo.removeProxy(p);
      this.t.stats.forget(token);
    });
  }

  /** fillslots (all 1024, for this proxy), start, sentinels. */
  private async reinit(p: Proxy, c: ProxyClient): Promise<void> {
    const topo = this.t.topology();
    this.t.log.warn(`proxy-[${p.token}] reinit: ${JSON.stringify(encodeProxy(p))}`);
    await this.t.resolveIps([p]);
    const slots = toSlots(this.t.slotContext(topo), topo.slots, p);
    const fail = (what: string) => (e: unknown): never => {
      this.t.log.error(`proxy-[${p.token}] ${what} failed: ${errText(e)}`);
      throw new ApiError(`proxy-[${p.token}] ${what} failed`);
    };
    await c.fillSlots(slots).catch(fail("fillslots"));
    await c.start().catch(fail("start"));
    await c.setSentinels(topo.sentinel).catch(fail("set sentinels"));
    this.reinitAt.set(p.token, performance.now());
  }


  /**
   * Called by the stats loop with a proxy's fresh stats: a registered proxy that restarted
   * reports online:false; bring it back by itself. A reply asked for before our own reinit of
   * it finished may predate its start: ignore that one.
   */
  reviveIfRestarted(p: Proxy, st: ProxyStats, askedAt: number): void {
    const x = st.stats;
    if (!x || x.online || x.closed || this.t.isClosed() || this.autoOnline.has(p.token)) return;
    // One at a time per proxy: while the lock is busy, later polls must not queue more.
    this.autoOnline.add(p.token);
    this.t.withLock(async () => {
      if (askedAt <= (this.reinitAt.get(p.token) ?? -1)) return;
      await this.onlineProxyLocked(p.admin_addr);
    })
      .catch((e) => this.t.log.warn(`auto online proxy-[${p.token}] failed: ${errText(e)}`))
      .finally(() => this.autoOnline.delete(p.token));
  }
}
