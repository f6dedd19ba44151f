// The etcd v2 coordinator store: the API codis 3.2 itself speaks (pkg/models/etcd), so codis-fe,
// codis-admin and codis-proxy read a cluster that slotway keeps in etcd. Selected with
// coordinator_name = "etcdv2" (etcd 3.4 must run with --enable-v2; the v2 and v3 keyspaces
// are separate). Plain HTTP/JSON on node:http; basic auth for "user:password".
//
// As codis: values are plain keys, folders are v2 directories (made implicitly by a write
// below them), the product lock is a key created only if absent and kept until released or
// removed (no TTL: a dead dashboard's lock is removed by an operator, --remove-lock), and
// ephemeral nodes (jodis) are keys with a TTL refreshed every TTL/2.
//
// `delete` also removes the directories it leaves empty (a v2 directory delete without
// `recursive` fails on a non-empty one, so this cannot remove anything a concurrent writer
// just put there), and `get` of a directory reports absence.

import http from "node:http";
import { StoreLockedError, type Ephemeral, type Store } from "./store.js";
import { checkDir, checkKey } from "./layout.js";
import { EphemeralLife, asError, parentOf, withDeadline } from "./common.js";
import { parseEtcdAuth, parseEtcdHosts } from "./etcd-store.js";

export interface Etcd2StoreOptions {
  /** "user:password"; empty or absent for none. */
  auth?: string;
  /** Budget of each call, in ms. Default 5000. */
  timeoutMs?: number;
  /** TTL of ephemeral keys, in seconds (refreshed every half). Default 20 (codis's jodis_timeout). */
  ttlSeconds?: number;
}

interface V2Node {
  key?: string;
  value?: string;
  dir?: boolean;
  nodes?: V2Node[];
  modifiedIndex?: number;
  createdIndex?: number;
}

interface V2Reply {
  status: number;
  body: { node?: V2Node; errorCode?: number; message?: string; cause?: string } | undefined;
}

// etcd v2 error codes (etcd's error package).
const KEY_NOT_FOUND = 100;
const TEST_FAILED = 101;
const NOT_FILE = 102;
const NOT_DIR = 104;
const NODE_EXIST = 105;

class V2Error extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
    this.name = "V2Error";
  }
}


/** The etcd v2 Store. */
export class Etcd2Store implements Store {
  readonly kind = "etcdv2";
  readonly hosts: readonly string[];
  private readonly timeoutMs: number;
  private readonly ttl: number;
  private readonly authHeader: string | undefined;
  /** modifiedIndex of each lock this instance holds (its own writes keep it current). */
  private readonly held = new Map<string, number>();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  private closed = false;

  constructor(addr: string, opts: Etcd2StoreOptions = {}) {
    this.hosts = parseEtcdHosts(addr);
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.ttl = Math.max(1, Math.ceil(opts.ttlSeconds ?? 20));
    if (opts.auth) {
      const a = parseEtcdAuth(opts.auth);
      this.authHeader = "Basic " + Buffer.from(`${a.username}:${a.password}`).toString("base64");
    }
  }

  async get(key: string): Promise<string | undefined> {
    checkKey(key);
    return this.call("get", key, async () => {
      const r = await this.request("GET", key, { quorum: "true" });
      if (this.errorCode(r) === KEY_NOT_FOUND) return undefined;
      const node = this.ok(r).node;
      return node?.dir ? undefined : (node?.value ?? "");
    });
  }

  async put(key: string, value: string): Promise<void> {
    checkKey(key);
    await this.call("put", key, async () => {
      const node = this.ok(await this.request("PUT", key, {}, { value })).node;
      if (this.held.has(key) && node?.modifiedIndex !== undefined) this.held.set(key, node.modifiedIndex);
    });
  }

  async create(key: string, value: string): Promise<boolean> {
    checkKey(key);
    return this.call("create", key, async () => {
      const r = await this.request("PUT", key, { prevExist: "false" }, { value });
      if (this.errorCode(r) === NODE_EXIST) return false;
      this.ok(r);
      return true;
    });
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.call("delete", key, async () => {
      const r = await this.request("DELETE", key, {});
      if (this.errorCode(r) === KEY_NOT_FOUND) return;
      this.ok(r);
      await this.pruneDirs(parentOf(key));
    });
  }

  async list(dir: string): Promise<string[]> {
    const base = checkDir(dir);
    return this.call("list", dir, async () => {
      const r = await this.request("GET", base === "" ? "/" : base, { quorum: "true" });
      if (this.errorCode(r) === KEY_NOT_FOUND) return [];
      const node = this.ok(r).node;
      if (!node?.dir) return [];
      return (node.nodes ?? []).map((n) => n.key ?? "").filter((k) => k !== "").sort();
    });
  }

  async acquireLock(key: string, value: string): Promise<void> {
    checkKey(key);
    if (this.held.has(key)) throw new StoreLockedError(key, "this store instance");
    await this.call("acquire lock", key, async () => {
      const r = await this.request("PUT", key, { prevExist: "false" }, { value });
      const code = this.errorCode(r);
      if (code === NODE_EXIST || code === NOT_FILE) {
        const cur = await this.request("GET", key, { quorum: "true" });
        throw new StoreLockedError(key, this.errorCode(cur) === undefined ? (cur.body?.node?.value ?? "?") : "?");
      }
      this.held.set(key, this.ok(r).node?.modifiedIndex ?? 0);
    });
  }

  async releaseLock(key: string): Promise<void> {
    const index = this.held.get(key);
    if (index === undefined) return;
    this.held.delete(key);
    await this.call("release lock", key, async () => {
      // prevIndex: only the node this instance wrote last, not one a successor created.
      const r = await this.request("DELETE", key, { prevIndex: String(index) });
      const code = this.errorCode(r);
      if (code === KEY_NOT_FOUND || code === TEST_FAILED) return;
      this.ok(r);
      await this.pruneDirs(parentOf(key));
    });
  }

  async removeLock(key: string): Promise<void> {
    this.held.delete(key);
    await this.delete(key);
  }

  /** Creates `key` with a TTL and refreshes it every TTL/2, as codis's CreateEphemeral. */
  async createEphemeral(key: string, value: string): Promise<Ephemeral> {
    checkKey(key);
    await this.call("create ephemeral", key, async () => {
      this.ok(await this.request("PUT", key, { prevExist: "false" }, { value, ttl: String(this.ttl) }));
    });
    const life = new EphemeralLife();
    const timer = setInterval(() => {
      this.call("refresh ephemeral", key, async () => {
        this.ok(await this.request("PUT", key, { prevExist: "true" }, { refresh: "true", ttl: String(this.ttl) }));
      }).catch((e: unknown) => life.end(asError(e)));
    }, Math.max(100, (this.ttl * 1000) / 2));
    timer.unref();
    life.onEnd = () => clearInterval(timer);
    return life.handle(() => this.delete(key));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const errors: unknown[] = [];
    for (const key of [...this.held.keys()]) await this.releaseLock(key).catch((e: unknown) => errors.push(e));
    this.closed = true;
    this.agent.destroy();
    if (errors.length > 0) throw errors[0];
  }

  /** Removes empty directories upwards, stopping at the first that is not empty. */
  private async pruneDirs(dir: string): Promise<void> {
    for (let d = dir; d !== "/"; d = parentOf(d)) {
      const r = await this.request("DELETE", d, { dir: "true" });
      if (this.errorCode(r) !== undefined) return;
    }
  }

  private errorCode(r: V2Reply): number | undefined {
    return r.status >= 200 && r.status < 300 ? undefined : (r.body?.errorCode ?? -r.status);
  }

  private ok(r: V2Reply): { node?: V2Node } {
    const code = this.errorCode(r);
    if (code === undefined) return r.body ?? {};
    const b = r.body;
    const text = b?.message ? `${b.message}${b.cause ? ` (${b.cause})` : ""}` : `HTTP ${r.status}`;
    throw new V2Error(code, code === NOT_DIR ? `${text}: a key is in the way` : text);
  }

  /** One v2 keys request, trying the endpoints in order until one answers. */
  private async request(method: string, key: string, query: Record<string, string>, form?: Record<string, string>): Promise<V2Reply> {
    const path = "/v2/keys" + key.split("/").map(encodeURIComponent).join("/") + "?" + new URLSearchParams(query).toString();
    const body = form ? Buffer.from(new URLSearchParams(form).toString()) : undefined;
    let last: unknown;
    for (const host of this.hosts) {
      try {
        return await this.send(host, method, path, body);
      } catch (e) {
        last = e;
      }
    }
    throw last;
  }

  private send(host: string, method: string, path: string, body: Buffer | undefined): Promise<V2Reply> {
    const i = host.lastIndexOf(":");
    const headers: Record<string, string | number> = {};
    if (body) {
      headers["Content-Type"] = "application/x-www-form-urlencoded";
      headers["Content-Length"] = body.length;
    }
    if (this.authHeader) headers.Authorization = this.authHeader;
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: host.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(host.slice(i + 1)), method, path, headers,
        agent: this.agent, timeout: this.timeoutMs,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: V2Reply["body"];
          try {
            parsed = text ? (JSON.parse(text) as V2Reply["body"]) : undefined;
          } catch {
            parsed = { message: text.trim().slice(0, 200) };
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on("error", reject);
      req.end(body);
    });
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`etcdv2: use of closed store ${this.hosts.join(",")}`);
  }

  /** Runs one logical operation under the deadline, with one readable error. */
  private async call<T>(what: string, key: string, run: () => Promise<T>): Promise<T> {
    this.checkOpen();
    try {
      return await withDeadline(this.timeoutMs, run);
    } catch (e) {
      if (e instanceof StoreLockedError) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      throw new Error(`etcdv2: ${what} ${key} on ${this.hosts.join(",")} failed: ${msg}`, { cause: e });
    }
  }
}
