// Talking to redis-sentinel for the product's groups (codis pkg/utils/redis/sentinel.go facts):
// each group is monitored as "<product>-<gid>", with the dashboard's sentinel_* settings.
import dns from "node:dns";
import net from "node:net";
import type { RedisConn } from "../movers/mover.js";
import { hostOf } from "../models.js";

export interface MonitorConfig {
  quorum: number;
  parallelSyncs: number;
  downAfterMs: number;
  failoverTimeoutMs: number;
  notificationScript: string;
  clientReconfigScript: string;
  /** product_auth, set as auth-pass. */
  auth: string;
}

export type SentinelGroups = Record<string, { master: Record<string, string>; slaves?: Record<string, string>[] }>;

export function nodeName(product: string, gid: number): string {
  return `${product}-${gid}`;
}

/** The gid of "<product>-<gid>", or undefined when the name belongs to something else. */
export function gidOf(product: string, name: string): number | undefined {
  if (!name.startsWith(product + "-")) return undefined;
  const rest = name.slice(product.length + 1);
  return /^[+-]?\d+$/.test(rest) ? Number(rest) : undefined;
}

/** [k1, v1, k2, v2, ...] → { k1: v1, ... } */
function flatMap(v: unknown): Record<string, string> {
  if (!Array.isArray(v)) throw new Error(`invalid response = ${JSON.stringify(v)}`);
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < v.length; i += 2) out[String(v[i])] = String(v[i + 1]);
  return out;
}

/** SENTINEL masters, this product's only, by gid. */
export async function productMasters(c: RedisConn, product: string): Promise<Map<number, Record<string, string>>> {
  const r = await c.call("SENTINEL", "masters");
  if (!Array.isArray(r)) throw new Error(`invalid response = ${JSON.stringify(r)}`);
  const out = new Map<number, Record<string, string>>();
  for (const m of r) {
    const p = flatMap(m);
    const gid = gidOf(product, p.name ?? "");
    if (gid !== undefined) out.set(gid, p);
  }
  return out;
}

/** { "<product>-<gid>": { master, slaves } } as codis's MastersAndSlaves. */
export async function mastersAndSlaves(c: RedisConn, product: string): Promise<SentinelGroups> {
  const out: SentinelGroups = {};
  for (const [gid, master] of await productMasters(c, product)) {
    const name = nodeName(product, gid);
    const r = await c.call("SENTINEL", "slaves", name);
    const slaves = Array.isArray(r) ? r.map(flatMap) : [];
    out[name] = slaves.length ? { master, slaves } : { master };
  }
  return out;
}

/** Forgets the named masters that this sentinel monitors. */
export async function removeNames(c: RedisConn, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const known = await c.call("SENTINEL", "get-master-addr-by-name", name);
    if (known !== null) await c.call("SENTINEL", "remove", name);
  }
}

/** Forgets every group of the product. */
export async function removeAllGroups(c: RedisConn, product: string): Promise<void> {
  await removeNames(c, [...(await productMasters(c, product)).keys()].map((g) => nodeName(product, g)));
}

/** Monitors each group master as "<product>-<gid>" with the given settings (replacing what was there). */
export async function monitorGroups(c: RedisConn, product: string, groups: ReadonlyMap<number, string>, cfg: MonitorConfig): Promise<void> {
  const resolved = new Map<number, { ip: string; port: string }>();
  for (const [gid, addr] of groups) {
    const host = hostOf(addr);
    const ip = net.isIP(host) ? host : (await dns.promises.lookup(host)).address;
    resolved.set(gid, { ip, port: addr.slice(addr.lastIndexOf(":") + 1) });
  }
  await removeNames(c, [...groups.keys()].map((g) => nodeName(product, g)));
  for (const [gid, { ip, port }] of resolved) await c.call("SENTINEL", "monitor", nodeName(product, gid), ip, port, cfg.quorum);
  for (const gid of resolved.keys()) {
    const args: (string | number)[] = ["SENTINEL", "set", nodeName(product, gid)];
    if (cfg.parallelSyncs) args.push("parallel-syncs", cfg.parallelSyncs);
    if (cfg.downAfterMs) args.push("down-after-milliseconds", cfg.downAfterMs);
    if (cfg.failoverTimeoutMs) args.push("failover-timeout", cfg.failoverTimeoutMs);
    if (cfg.auth) args.push("auth-pass", cfg.auth);
    if (cfg.notificationScript) args.push("notification-script", cfg.notificationScript);
    if (cfg.clientReconfigScript) args.push("client-reconfig-script", cfg.clientReconfigScript);
    await c.call(...args);
  }
}
