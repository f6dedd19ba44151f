// After a Pika 3.4 slot moved to another group, its old copy stays on the source group's servers
// for pika_delslots_grace, then goes (`pkcluster delslots`): each slot a server holds costs it
// file descriptors, threads and memory.
//
// The list of copies to remove is kept in the store (/codis3/<product>/slotway/pika-delslots, a
// slotway-only key codis tools never read), written in the same step that records the slot's new
// group, so a dashboard restarted during the grace still removes them.
//
// A copy is removed only when the slot is still elsewhere and not on its way back: a slot that
// goes offline, or is assigned by force, keeps its data where it is (the dashboard cannot know
// that data has another copy), and so does a slot the operator moves back meanwhile.
import { productDir } from "../store/layout.js";
import { ActionState } from "../models.js";
import { errText } from "./log.js";
import { PikaSlotReplication, ConnPool } from "../movers/pika-replication.js";
import type { Topom } from "./topom.js";

export interface CleanupEntry {
  sid: number;
  /** The group the slot left. */
  gid: number;
  /** Its servers when the slot left (servers added since are included at removal time). */
  servers: string[];
  /** Unix ms: not before. */
  at: number;
}

export function cleanupPath(product: string): string {
  return `${productDir(product)}/slotway/pika-delslots`;
}

export class PikaCleanup {
  private entries: CleanupEntry[] = [];
  private loaded = false;

  constructor(private readonly t: Topom) {}

  /** Copies waiting for removal (for the overview). */
  list(): readonly CleanupEntry[] {
    return this.entries;
  }

  private async load(): Promise<void> {
    if (this.loaded) return;
    const text = await this.t.store.get(cleanupPath(this.t.config.product_name));
    this.entries = text ? (JSON.parse(text) as CleanupEntry[]) : [];
    this.loaded = true;
  }

  private async save(next: CleanupEntry[]): Promise<void> {
    const key = cleanupPath(this.t.config.product_name);
    if (next.length === 0) await this.t.store.delete(key);
    else await this.t.store.put(key, JSON.stringify(next));
    this.entries = next;
  }

  /** Records a copy to remove (called under the topology lock, right after the slot moved). */
  async add(sid: number, gid: number, servers: readonly string[]): Promise<void> {
    await this.load();
    const at = Date.now() + this.t.config.pika_delslots_grace;
    await this.save([...this.entries.filter((e) => !(e.sid === sid && e.gid === gid)), { sid, gid, servers: [...servers], at }]);
  }

  /** Removes the copies whose grace is over (one pass; the dashboard calls it every second). */
  async tick(): Promise<void> {
    await this.load();
    const due = this.entries.filter((e) => e.at <= Date.now());
    if (due.length === 0) return;
    const pool = new ConnPool(this.t.connect, this.t.config.product_auth || undefined, 15_000);
    const repl = new PikaSlotReplication(pool);
    try {
      for (const e of due) {
        await this.t.withLock(async () => {
          const topo = this.t.topology();
          const m = topo.slots[e.sid]!;
          const back = m.group_id === e.gid || (m.action.state !== ActionState.Nothing && m.action.target_id === e.gid);
          if (!back) {
            const g = topo.groups.get(e.gid);
            const servers = [...new Set([...(g?.servers.map((s) => s.server) ?? []), ...e.servers])];
            // Replicas first: a master whose slot goes while a replica still follows it is harmless,
            // but the replica would log errors for nothing.
            const master = g?.servers[0]?.server;
            const ordered = [...servers.filter((s) => s !== master), ...(master && servers.includes(master) ? [master] : [])];
            try {
              await repl.remove(e.sid, ordered);
              this.t.log.warn(`slot-[${e.sid}] copy removed from group-[${e.gid}] (${ordered.join(", ")}): pkcluster delslots ${e.sid}`);
            } catch (err) {
              this.t.log.warn(`slot-[${e.sid}] delslots on group-[${e.gid}] failed, retried later: ${errText(err)}`);
              return;
            }
          } else {
            this.t.log.warn(`slot-[${e.sid}] is back on (or moving back to) group-[${e.gid}]: its copy there is kept`);
          }
          await this.save(this.entries.filter((x) => x !== e));
        });
      }
    } finally {
      pool.close();
    }
  }
}
