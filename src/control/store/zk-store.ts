// The ZooKeeper coordinator store: codis's coordinator_name = "zookeeper" (alias "zk"),
// coordinator_addr = "host:port,host:port", coordinator_auth = "user:password" (digest).
//
// Nodes follow codis's zk client (pkg/models/zk): folders are created with empty data and all
// permissions; value nodes with READ|WRITE|ADMIN (no CREATE, no DELETE), both for world:anyone,
// or for the digest user when auth is set. A folder is a node with empty data and children;
// `get` reports it as absent, and `delete` removes folders left empty, so a store that held a
// key and lost it looks as it did before (codis never removes folders; it does not mind).
//
// The product lock is what codis makes of it: a persistent node created only if absent. A
// dashboard that dies leaves it behind, and an operator removes it (`--remove-lock` here or on
// codis-dashboard, `codis-admin --remove-lock`). Ephemeral nodes (jodis) live with the session.
//
// node-zookeeper-client queues requests while it is disconnected and sends them once it is
// back, so a call this store already reported as failed could still be applied later. This
// store therefore only issues a request on a connected session, gives each call a deadline,
// and throws the whole client away when a call runs past it (the next call starts a new
// session), so nothing it gave up on is sent afterwards.

import { createHash } from "node:crypto";
import * as zookeeper from "node-zookeeper-client";
import { StoreLockedError, type Ephemeral, type Store } from "./store.js";
import { checkDir, checkKey } from "./layout.js";
import { EphemeralLife, asError, parentOf, withDeadline } from "./common.js";

export interface ZkStoreOptions {
  /** "user:password" (digest scheme); empty or absent for none. */
  auth?: string;
  /** Budget of each call, in ms. Default 5000. */
  timeoutMs?: number;
  /** ZooKeeper session timeout, in ms: how long ephemeral nodes outlive a lost connection. Default 30000. */
  sessionTimeoutMs?: number;
}

type ZkClient = zookeeper.Client;
type ZkCallback<T> = (err: Error | zookeeper.Exception | null, value?: T, stat?: zookeeper.Stat) => void;

const { Permission, CreateMode, Exception, ACL, Id } = zookeeper;

/** Splits a coordinator_addr list into ZooKeeper hosts ("host:port"). */
export function parseZkHosts(addr: string): string[] {
  const hosts = addr.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (hosts.length === 0) throw new Error("zookeeper: empty coordinator_addr");
  for (const h of hosts) {
    if (!/^[^/:]+:\d+$|^\[[0-9a-fA-F:.]+\]:\d+$/.test(h)) throw new Error(`zookeeper: invalid address ${JSON.stringify(h)}, want host:port`);
  }
  return hosts;
}

/** Splits codis's "user:password" as codis does (the user may not be empty). */
export function parseZkAuth(auth: string): { user: string; password: string } {
  const colon = auth.indexOf(":");
  if (colon <= 0) throw new Error("zookeeper: invalid auth, want user:password");
  return { user: auth.slice(0, colon), password: auth.slice(colon + 1) };
}

function codeOf(e: unknown): number | undefined {
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  return typeof code === "number" ? code : undefined;
}


/** The ZooKeeper-backed Store. */
export class ZkStore implements Store {
  readonly kind = "zookeeper";
  readonly hosts: readonly string[];
  private readonly timeoutMs: number;
  private readonly sessionTimeoutMs: number;
  private readonly auth: { user: string; password: string } | undefined;
  private readonly folderAcl: zookeeper.ACL[];
  private readonly valueAcl: zookeeper.ACL[];
  private client: ZkClient | null = null;
  /** Called with the reason when the current client is thrown away (session over). */
  private readonly sessionEnded = new Set<(why: Error) => void>();
  /** czxid of each lock this instance holds, to release only its own node. */
  private readonly held = new Map<string, string>();
  private closed = false;

  constructor(addr: string, opts: ZkStoreOptions = {}) {
    this.hosts = parseZkHosts(addr);
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.sessionTimeoutMs = opts.sessionTimeoutMs ?? 30_000;
    this.auth = opts.auth ? parseZkAuth(opts.auth) : undefined;
    const who = this.auth
      ? new Id("digest", `${this.auth.user}:${createHash("sha1").update(`${this.auth.user}:${this.auth.password}`).digest("base64")}`)
      : new Id("world", "anyone");
    this.folderAcl = [new ACL(Permission.ALL, who)];
    this.valueAcl = [new ACL(Permission.ADMIN | Permission.READ | Permission.WRITE, who)];
  }

  async get(key: string): Promise<string | undefined> {
    checkKey(key);
    return this.call("get", key, async (c) => {
      try {
        const [data, stat] = await op<Buffer>((cb) => c.getData(key, cb));
        // A folder: empty data above children.
        if ((data === null || data === undefined || data.length === 0) && stat!.numChildren > 0) return undefined;
        return data ? data.toString("utf8") : "";
      } catch (e) {
        if (codeOf(e) === Exception.NO_NODE) return undefined;
        throw e;
      }
    });
  }

  async put(key: string, value: string): Promise<void> {
    checkKey(key);
    const data = Buffer.from(value, "utf8");
    await this.call("put", key, async (c) => {
      for (let round = 0; ; round++) {
        try {
          await op((cb) => c.setData(key, data, -1, cb));
          return;
        } catch (e) {
          if (codeOf(e) !== Exception.NO_NODE || round >= 5) throw e;
        }
        if (await this.createIn(c, key, data, CreateMode.PERSISTENT)) return;
      }
    });
  }

  async create(key: string, value: string): Promise<boolean> {
    checkKey(key);
    return this.call("create", key, (c) => this.createIn(c, key, Buffer.from(value, "utf8"), CreateMode.PERSISTENT));
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.call("delete", key, async (c) => {
      try {
        await op((cb) => c.remove(key, -1, cb));
      } catch (e) {
        const code = codeOf(e);
        if (code === Exception.NO_NODE) return;
        // A key that is also a folder keeps its children: it becomes a bare folder.
        if (code === Exception.NOT_EMPTY) {
          await op((cb) => c.setData(key, Buffer.alloc(0), -1, cb));
          return;
        }
        throw e;
      }
      await this.pruneFolders(c, parentOf(key));
    });
  }

  async list(dir: string): Promise<string[]> {
    const base = checkDir(dir);
    return this.call("list", dir, async (c) => {
      let names: string[];
      try {
        [names] = await op<string[]>((cb) => c.getChildren(base === "" ? "/" : base, cb));
      } catch (e) {
        if (codeOf(e) === Exception.NO_NODE) return [];
        throw e;
      }
      // ZooKeeper's own folder (/zookeeper) is no key of ours.
      return names.filter((n) => !(base === "" && n === "zookeeper")).map((n) => `${base}/${n}`).sort();
    });
  }

  async acquireLock(key: string, value: string): Promise<void> {
    checkKey(key);
    if (this.held.has(key)) throw new StoreLockedError(key, "this store instance");
    await this.call("acquire lock", key, async (c) => {
      const data = Buffer.from(value, "utf8");
      if (!(await this.createIn(c, key, data, CreateMode.PERSISTENT))) {
        let holder = "?";
        try {
          const [held] = await op<Buffer>((cb) => c.getData(key, cb));
          holder = held ? held.toString("utf8") : "";
        } catch {
          // gone again meanwhile: still refused this round
        }
        throw new StoreLockedError(key, holder);
      }
      const [, stat] = await op<Buffer>((cb) => c.getData(key, cb));
      this.held.set(key, stat!.czxid.toString("hex"));
    });
  }

  async releaseLock(key: string): Promise<void> {
    const czxid = this.held.get(key);
    if (czxid === undefined) return;
    this.held.delete(key);
    await this.call("release lock", key, async (c) => {
      let stat: zookeeper.Stat;
      try {
        [, stat] = (await op<Buffer>((cb) => c.getData(key, cb))) as [Buffer, zookeeper.Stat];
      } catch (e) {
        if (codeOf(e) === Exception.NO_NODE) return;
        throw e;
      }
      // Removed by an operator and taken by another dashboard since: not ours to delete.
      if (stat.czxid.toString("hex") !== czxid) return;
      try {
        await op((cb) => c.remove(key, stat.version, cb));
      } catch (e) {
        const code = codeOf(e);
        if (code !== Exception.NO_NODE && code !== Exception.BAD_VERSION) throw e;
        return;
      }
      await this.pruneFolders(c, parentOf(key));
    });
  }

  async removeLock(key: string): Promise<void> {
    this.held.delete(key);
    await this.delete(key);
  }

  /**
   * Creates an ephemeral node (codis CreateEphemeral: READ|WRITE|ADMIN, folders made as
   * needed). It lives as long as this store's session; `lost` resolves when the node is
   * deleted or changed by someone else, or the session ends.
   */
  async createEphemeral(key: string, value: string): Promise<Ephemeral> {
    checkKey(key);
    const life = new EphemeralLife();
    let probe: NodeJS.Timeout | undefined;
    life.onEnd = () => {
      this.sessionEnded.delete(life.end);
      clearInterval(probe);
    };
    await this.call("create ephemeral", key, async (c) => {
      if (!(await this.createIn(c, key, Buffer.from(value, "utf8"), CreateMode.EPHEMERAL))) {
        throw Object.assign(new Error("node already exists"), { code: Exception.NODE_EXISTS });
      }
      this.sessionEnded.add(life.end);
      await op<unknown>((cb) => c.exists(key, (ev) => life.end(new Error(`node ${key}: ${ev.getName()}`)), cb));
    });
    // The library never notices a server that stops answering; probing the node within the
    // session timeout does, and throws the session away so that a new one can register again.
    probe = setInterval(() => {
      if (life.ended) return;
      this.call("check ephemeral", key, async (c) => {
        const [stat] = await op<zookeeper.Stat | null>((cb) => c.exists(key, cb));
        if (!stat) life.end(new Error(`node ${key} is gone`));
      }).catch((e: unknown) => life.end(asError(e)));
    }, Math.max(200, Math.floor(this.sessionTimeoutMs / 3)));
    probe.unref();
    return life.handle(() => this.delete(key));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const errors: unknown[] = [];
    for (const key of [...this.held.keys()]) await this.releaseLock(key).catch((e: unknown) => errors.push(e));
    this.closed = true;
    this.discard(new Error("store closed"));
    if (errors.length > 0) throw errors[0];
  }

  /** Creates a node below folders made as needed; false when it already exists. */
  private async createIn(c: ZkClient, key: string, data: Buffer, mode: number): Promise<boolean> {
    for (let round = 0; ; round++) {
      await this.mkdirs(c, parentOf(key));
      try {
        await op((cb) => c.create(key, data, this.valueAcl, mode, cb));
        return true;
      } catch (e) {
        const code = codeOf(e);
        if (code === Exception.NODE_EXISTS) return false;
        // A concurrent delete pruned a folder we had just made: make it again.
        if (code !== Exception.NO_NODE || round >= 5) throw e;
      }
    }
  }

  private async mkdirs(c: ZkClient, folder: string): Promise<void> {
    if (folder === "/") return;
    const segs = folder.slice(1).split("/");
    for (let i = 1; i <= segs.length; i++) {
      const path = "/" + segs.slice(0, i).join("/");
      try {
        await op((cb) => c.create(path, Buffer.alloc(0), this.folderAcl, CreateMode.PERSISTENT, cb));
      } catch (e) {
        if (codeOf(e) !== Exception.NODE_EXISTS) throw e;
      }
    }
  }

  /** Removes empty folders upwards; stops at the first that holds data or children. */
  private async pruneFolders(c: ZkClient, folder: string): Promise<void> {
    for (let f = folder; f !== "/"; f = parentOf(f)) {
      try {
        const [data, stat] = await op<Buffer>((cb) => c.getData(f, cb));
        if ((data && data.length > 0) || stat!.numChildren > 0 || stat!.ephemeralOwner.some((b) => b !== 0)) return;
        // The version guards against a value written meanwhile; NOT_EMPTY against a new child.
        await op((cb) => c.remove(f, stat!.version, cb));
      } catch {
        return;
      }
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`zookeeper: use of closed store ${this.hosts.join(",")}`);
  }

  /** A client whose session is connected, waiting for it up to `deadline`. */
  private async connected(deadline: number): Promise<ZkClient> {
    let c = this.client;
    if (!c) {
      c = zookeeper.createClient(this.hosts.join(","), { sessionTimeout: this.sessionTimeoutMs, spinDelay: 200, retries: 0 });
      if (this.auth) c.addAuthInfo("digest", Buffer.from(`${this.auth.user}:${this.auth.password}`));
      const mine = c;
      c.on("state", (s: zookeeper.State) => {
        if (s === zookeeper.State.EXPIRED || s === zookeeper.State.AUTH_FAILED) {
          if (this.client === mine) this.discard(new Error(`session ${s.name.toLowerCase()}`));
        }
      });
      this.client = c;
      c.connect();
    }
    const state = c.getState();
    if (state === zookeeper.State.SYNC_CONNECTED) return c;
    if (state === zookeeper.State.AUTH_FAILED) throw new Error("authentication failed");
    const client = c;
    await new Promise<void>((resolve, reject) => {
      const left = deadline - Date.now();
      const t = setTimeout(() => {
        client.removeListener("state", onState);
        reject(new Error(`not connected within ${this.timeoutMs} ms`));
      }, Math.max(0, left));
      const onState = (s: zookeeper.State): void => {
        if (s === zookeeper.State.SYNC_CONNECTED || s === zookeeper.State.AUTH_FAILED || s === zookeeper.State.EXPIRED) {
          clearTimeout(t);
          client.removeListener("state", onState);
          if (s === zookeeper.State.SYNC_CONNECTED) resolve();
          else reject(new Error(s === zookeeper.State.AUTH_FAILED ? "authentication failed" : "session expired"));
        }
      };
      client.on("state", onState);
    });
    return client;
  }

  /** Drops the client and its session: pending and queued requests go with it. */
  private discard(why: Error): void {
    const c = this.client;
    this.client = null;
    if (c) {
      c.removeAllListeners("state");
      try {
        c.close();
      } catch {
        // already closed
      }
      // close() queues a close-session request; while disconnected that would wait for a
      // server, with whatever else is queued. Cut the socket so nothing else is sent.
      const cm = (c as unknown as { connectionManager?: { socket?: { destroy(): void } } }).connectionManager;
      cm?.socket?.destroy();
    }
    for (const f of [...this.sessionEnded]) f(why);
  }

  /**
   * Runs one operation on a connected session with one readable error. Making the session and
   * running the operation have a budget of timeoutMs each: a new session costs the server a
   * write of its own, which a loaded server may take seconds to make.
   */
  private async call<T>(what: string, key: string, run: (c: ZkClient) => Promise<T>): Promise<T> {
    this.checkOpen();
    try {
      const c = await this.connected(Date.now() + this.timeoutMs);
      return await withDeadline(this.timeoutMs, () => run(c));
    } catch (e) {
      const code = codeOf(e);
      // A deadline passed or the session broke: start afresh next time (see the top).
      if (code === undefined || code === Exception.CONNECTION_LOSS || code === Exception.SESSION_EXPIRED) {
        if (!(e instanceof StoreLockedError)) this.discard(e instanceof Error ? e : new Error(String(e)));
      }
      if (e instanceof StoreLockedError) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      throw new Error(`zookeeper: ${what} ${key} on ${this.hosts.join(",")} failed: ${msg}`, { cause: e });
    }
  }
}

/** Calls a node-zookeeper-client method and resolves with its results. */
function op<T = unknown>(start: (cb: ZkCallback<T>) => void): Promise<[T, zookeeper.Stat | undefined]> {
  return new Promise((resolve, reject) => {
    start((err, value, stat) => {
      if (err) reject(err instanceof Error ? err : Object.assign(new Error(String(err)), { code: (err as zookeeper.Exception).code }));
      else resolve([value as T, stat]);
    });
  });
}
