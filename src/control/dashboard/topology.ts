// The dashboard's copy of the topology (slots, groups, proxies, sentinel) over the store, with
// codis's key layout (store/layout.ts) and codis's error texts.
//
// Invariant: this copy equals the store. The dashboard holds the product lock, so it is the only
// writer; every change is written to the store first and enters the copy only once the write
// succeeded, and records are replaced whole (never edited in place), so a reader between two
// awaits always sees records that are in the store.
import { ApiError } from "../http.js";
import {
  MAX_SLOT_NUM, decodeGroup, decodeProxy, decodeSentinel, decodeSlotMapping, encodeGroup, encodeProxy,
  encodeSentinel, encodeSlotMapping, newSentinel, newSlotMapping, toJsonText,
  type Group, type GroupServer, type Proxy, type Sentinel, type SlotMapping,
} from "../models.js";
import { groupDir, groupPath, proxyDir, proxyPath, sentinelPath, slotPath, slotsDir } from "../store/layout.js";
import { putAll, type Store } from "../store/store.js";
import { errText, type Logger } from "./log.js";

export class Topology {
  private constructor(
    private readonly store: Store,
    private readonly product: string,
    private readonly log: Logger,
    /** index = slot id; always 1024 entries. */
    readonly slots: SlotMapping[],
    readonly groups: Map<number, Group>,
    readonly proxies: Map<string, Proxy>,
    public sentinel: Sentinel,
  ) {}

  /** Reads everything from the store; fails with codis's "store: load ... failed". */
  static async load(store: Store, product: string, log: Logger): Promise<Topology> {
    const slots = await loading("slots", log, async () => {
      const present = new Set(await store.list(slotsDir(product)));
      const out: SlotMapping[] = [];
      for (let sid = 0; sid < MAX_SLOT_NUM; sid++) {
        const key = slotPath(product, sid);
        const text = present.has(key) ? await store.get(key) : undefined;
        // A slot that was never written is offline (codis: SlotMapping{Id: i}).
        const m = text === undefined ? newSlotMapping(sid) : decodeSlotMapping(text);
        if (m.id !== sid) throw new Error(`${key} holds slot-[${m.id}]`);
        out.push(m);
      }
      return out;
    });
    const groups = await loading("group", log, async () => {
      const out = new Map<number, Group>();
      for (const key of await store.list(groupDir(product))) {
        const text = await store.get(key);
        if (text === undefined) continue;
        const g = decodeGroup(text);
        out.set(g.id, g);
      }
      return out;
    });
    const proxies = await loading("proxy", log, async () => {
      const out = new Map<string, Proxy>();
      for (const key of await store.list(proxyDir(product))) {
        const text = await store.get(key);
        if (text === undefined) continue;
        const p = decodeProxy(text);
        out.set(p.token, p);
      }
      return out;
    });
    const sentinel = await loading("sentinel", log, async () => {
      const text = await store.get(sentinelPath(product));
      return text === undefined ? newSentinel() : decodeSentinel(text);
    });
    return new Topology(store, product, log, slots, groups, proxies, sentinel);
  }

  // --- lookups (codis context.go) ---------------------------------------------------------

  getSlot(sid: number): SlotMapping {
    if (Number.isInteger(sid) && sid >= 0 && sid < MAX_SLOT_NUM) return this.slots[sid]!;
    throw new ApiError(`slot-[${sid}] doesn't exist`);
  }

  getGroup(gid: number): Group {
    const g = this.groups.get(gid);
    if (!g) throw new ApiError(`group-[${gid}] doesn't exist`);
    return g;
  }

  getGroupIndex(g: Group, addr: string): number {
    const i = g.servers.findIndex((s) => s.server === addr);
    if (i < 0) throw new ApiError(`group-[${g.id}] doesn't have server-[${addr}]`);
    return i;
  }

  getGroupByServer(addr: string): { group: Group; index: number } {
    for (const g of this.sortedGroups()) {
      const i = g.servers.findIndex((s) => s.server === addr);
      if (i >= 0) return { group: g, index: i };
    }
    throw new ApiError(`server-[${addr}] doesn't exist`);
  }

  getProxy(token: string): Proxy {
    const p = this.proxies.get(token);
    if (!p) throw new ApiError(`proxy-[${token}] doesn't exist`);
    return p;
  }

  groupMaster(gid: number): string {
    const g = this.groups.get(gid);
    return g && g.servers.length !== 0 ? g.servers[0]!.server : "";
  }

  /** Slots mapped to or migrating to gid. */
  slotsOfGroup(gid: number): SlotMapping[] {
    return this.slots.filter((m) => m.group_id === gid || m.action.target_id === gid);
  }

  isGroupInUse(gid: number): boolean {
    return this.slots.some((m) => m.group_id === gid || m.action.target_id === gid);
  }

  maxSlotActionIndex(): number {
    let max = 0;
    for (const m of this.slots) if (m.action.state !== "" && m.action.index > max) max = m.action.index;
    return max;
  }

  maxProxyId(): number {
    let max = 0;
    for (const p of this.proxies.values()) if (p.id > max) max = p.id;
    return max;
  }

  maxSyncActionIndex(): number {
    let max = 0;
    for (const g of this.groups.values()) {
      for (const s of g.servers) if (s.action.state === "pending" && s.action.index > max) max = s.action.index;
    }
    return max;
  }

  /** The server whose pending sync action has the lowest index, or "". */
  minSyncActionServer(): string {
    let best: GroupServer | undefined;
    for (const g of this.sortedGroups()) {
      for (const s of g.servers) {
        if (s.action.state === "pending" && (!best || s.action.index < best.action.index)) best = s;
      }
    }
    return best ? best.server : "";
  }

  sortedGroups(): Group[] {
    return [...this.groups.values()].sort((a, b) => a.id - b.id);
  }

  sortedProxies(): Proxy[] {
    return [...this.proxies.values()].sort((a, b) => a.id - b.id || (a.token < b.token ? -1 : 1));
  }

  // --- writes (store first, then the copy) -----------------------------------------------

  async updateSlot(m: SlotMapping): Promise<void> {
    this.log.debug(`update slot-[${m.id}]: ${JSON.stringify(encodeSlotMapping(m))}`);
    await writing(`store: update slot-[${m.id}] failed`, this.log, () =>
      this.store.put(slotPath(this.product, m.id), toJsonText(encodeSlotMapping(m))));
    this.slots[m.id] = m;
  }

  /**
   * Writes several slots with one store call (putAll: a batch where the store has one, else up
   * to 32 writes at a time): a migration round writes each state change of its slots once, not
   * once per slot. The copy takes the new mappings only once all are durable; after a failure it
   * keeps the old ones, and the store may hold either for each slot, which every step of the
   * migration accepts (each is idempotent from either side).
   */
  async updateSlots(ms: readonly SlotMapping[]): Promise<void> {
    if (ms.length === 0) return;
    if (ms.length === 1) return this.updateSlot(ms[0]!);
    for (const m of ms) this.log.debug(`update slot-[${m.id}]: ${JSON.stringify(encodeSlotMapping(m))}`);
    await writing(`store: update slot-[${ms[0]!.id}] and ${ms.length - 1} more failed`, this.log, () =>
      putAll(this.store, ms.map((m) => [slotPath(this.product, m.id), toJsonText(encodeSlotMapping(m))] as const)));
    for (const m of ms) this.slots[m.id] = m;
  }

  async createGroup(g: Group): Promise<void> {
    this.log.info(`create group-[${g.id}]: ${JSON.stringify(encodeGroup(g))}`);
    await writing(`store: create group-[${g.id}] failed`, this.log, () =>
      this.store.put(groupPath(this.product, g.id), toJsonText(encodeGroup(g))));
    this.groups.set(g.id, g);
  }

  async updateGroup(g: Group): Promise<void> {
    this.log.info(`update group-[${g.id}]: ${JSON.stringify(encodeGroup(g))}`);
    await writing(`store: update group-[${g.id}] failed`, this.log, () =>
      this.store.put(groupPath(this.product, g.id), toJsonText(encodeGroup(g))));
    this.groups.set(g.id, g);
  }

  async removeGroup(g: Group): Promise<void> {
    this.log.info(`remove group-[${g.id}]`);
    await writing(`store: remove group-[${g.id}] failed`, this.log, () => this.store.delete(groupPath(this.product, g.id)));
    this.groups.delete(g.id);
  }

  async createProxy(p: Proxy): Promise<void> {
    this.log.info(`create proxy-[${p.token}]: ${JSON.stringify(encodeProxy(p))}`);
    await writing(`store: create proxy-[${p.token}] failed`, this.log, () =>
      this.store.put(proxyPath(this.product, p.token), toJsonText(encodeProxy(p))));
    this.proxies.set(p.token, p);
  }

  async updateProxy(p: Proxy): Promise<void> {
    this.log.info(`update proxy-[${p.token}]: ${JSON.stringify(encodeProxy(p))}`);
    await writing(`store: update proxy-[${p.token}] failed`, this.log, () =>
      this.store.put(proxyPath(this.product, p.token), toJsonText(encodeProxy(p))));
    this.proxies.set(p.token, p);
  }

  async removeProxy(p: Proxy): Promise<void> {
    this.log.info(`remove proxy-[${p.token}]`);
    await writing(`store: remove proxy-[${p.token}] failed`, this.log, () => this.store.delete(proxyPath(this.product, p.token)));
    this.proxies.delete(p.token);
  }

  async updateSentinel(s: Sentinel): Promise<void> {
    this.log.info(`update sentinel: ${JSON.stringify(encodeSentinel(s))}`);
    await writing("store: update sentinel failed", this.log, () =>
      this.store.put(sentinelPath(this.product), toJsonText(encodeSentinel(s))));
    this.sentinel = s;
  }
}

/** A deep copy of a record, to change without touching the copy others may be reading. */
export function clone<T>(v: T): T {
  return structuredClone(v);
}

async function loading<T>(what: string, log: Logger, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    log.error(`store: load ${what} failed: ${errText(e)}`);
    throw new ApiError(`store: load ${what} failed`);
  }
}

async function writing(message: string, log: Logger, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    log.error(`${message}: ${errText(e)}`);
    throw new ApiError(message);
  }
}
