// The etcd (v3 API) coordinator store, for fleets: codis's coordinator_name = "etcd",
// coordinator_addr = "host:port,host:port", coordinator_auth = "user:password".
//
// Keys are stored verbatim ("/codis3/demo/slots/slot-0001"); etcd has no folders, so `list`
// ranges over "<dir>/" and reduces the keys to direct children.
//
// The lock is a key bound to a lease: created in a transaction that requires create revision 0,
// the lease kept alive by the client. A dashboard that crashes stops the keep-alives and etcd
// deletes the key when the TTL runs out, so the next dashboard takes over without an operator.
// The holder side is conservative: when no keep-alive has been acknowledged for 80% of the TTL
// (etcd unreachable), the lock is declared lost (onLockLost) and the lease revoked, so the
// holder stops before anyone else can take over.
//
// Every unary call has a deadline (timeoutMs) and an outer timer of the same length, so a down
// or black-holed etcd gives a clear error instead of a hang (etcd3 retries inside that budget).
//
// Note: codis 3.2 itself speaks etcd's v2 API, whose keyspace is separate from v3's; codis
// binaries pointed at the same etcd do not see these keys.

import { Etcd3, type IOptions, type ITxnResponse, type Lease, type Watcher } from "etcd3";
import { StoreLockedError, type Ephemeral, type Store } from "./store.js";
import { checkDir, checkKey } from "./layout.js";
import { EphemeralLife, asError, withDeadline } from "./common.js";

export interface EtcdStoreOptions {
  /** "user:password" (codis coordinator_auth); empty or absent for none. */
  auth?: string;
  /** Budget of each call, in ms. Default 5000 (codis's coordinator timeout). */
  timeoutMs?: number;
  /** TTL of the lock's lease, in seconds (etcd raises it to its minimum, often 2 s). Default 10. */
  lockTtlSeconds?: number;
  /** Called when a held lock is lost (etcd unreachable past the lease, or the lease revoked). */
  onLockLost?: (key: string, err: Error) => void;
}

interface HeldLock {
  lease: Lease;
  leaseId: string;
  watchdog: NodeJS.Timeout;
}

/** Splits a coordinator_addr list into gRPC hosts ("host:port"). */
export function parseEtcdHosts(addr: string): string[] {
  const hosts = addr.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (hosts.length === 0) throw new Error(`etcd: empty coordinator_addr`);
  return hosts.map((h) => {
    if (h.startsWith("https://")) throw new Error(`etcd: TLS endpoints are not supported: ${h}`);
    const bare = h.startsWith("http://") ? h.slice("http://".length) : h;
    if (!/^[^/:]+:\d+$|^\[[0-9a-fA-F:.]+\]:\d+$/.test(bare)) throw new Error(`etcd: invalid endpoint ${JSON.stringify(h)}, want host:port`);
    return bare;
  });
}

/** Splits codis's "user:password" (the password may contain ':'). */
export function parseEtcdAuth(auth: string): { username: string; password: string } {
  const colon = auth.indexOf(":");
  if (colon <= 0) throw new Error("etcd: invalid auth, want user:password");
  return { username: auth.slice(0, colon), password: auth.slice(colon + 1) };
}

/** Operations per putMany transaction (etcd's --max-txn-ops defaults to 128). */
const ETCD_TXN_OPS = 100;

/** The etcd-backed Store. */
export class EtcdStore implements Store {
  readonly kind = "etcd";
  readonly hosts: readonly string[];
  private readonly client: Etcd3;
  private readonly timeoutMs: number;
  private readonly ttl: number;
  private readonly onLockLost: (key: string, err: Error) => void;
  private readonly held = new Map<string, HeldLock>();
  private closed = false;

  constructor(addr: string, opts: EtcdStoreOptions = {}) {
    this.hosts = parseEtcdHosts(addr);
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.ttl = Math.max(1, Math.ceil(opts.lockTtlSeconds ?? 10));
    this.onLockLost = opts.onLockLost ?? ((key, err) => {
      process.emitWarning(`etcd store: lock ${key} lost: ${err.message}`);
    });
    const timeoutMs = this.timeoutMs;
    const options: IOptions = {
      hosts: [...this.hosts],
      // Streams (lease keep-alives) must not carry a deadline, unary calls must.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
    };
    if (opts.auth) options.auth = { ...parseEtcdAuth(opts.auth), callOptions: () => ({ deadline: Date.now() + timeoutMs }) };
    this.client = new Etcd3(options);
  }

  async get(key: string): Promise<string | undefined> {
    checkKey(key);
    const v = await this.call("get", key, () => this.client.get(key).string());
    return v ?? undefined;
  }

  async put(key: string, value: string): Promise<void> {
    checkKey(key);
    // A plain put would detach the key from its lease; the holder's writes keep it attached.
    const h = this.held.get(key);
    await this.call("put", key, () => {
      const b = this.client.put(key).value(value);
      return (h ? b.lease(h.leaseId) : b).exec();
    });
  }

  /** Several keys in one transaction per 100 (etcd refuses more than 128 operations in one). */
  async putMany(entries: readonly (readonly [string, string])[]): Promise<void> {
    for (const [k] of entries) checkKey(k);
    for (let i = 0; i < entries.length; i += ETCD_TXN_OPS) {
      const chunk = entries.slice(i, i + ETCD_TXN_OPS);
      await this.call("put", chunk[0]![0], () => {
        const ops = chunk.map(([k, v]) => {
          const b = this.client.put(k).value(v);
          const h = this.held.get(k);
          return h ? b.lease(h.leaseId) : b;
        });
        return this.client.if(chunk[0]![0], "Version", ">", -1).then(...ops).commit();
      });
    }
  }

  async create(key: string, value: string): Promise<boolean> {
    checkKey(key);
    const res = await this.call("create", key, () =>
      // Never `await` a ComparatorBuilder itself: it has a `then` method of its own.
      this.client.if(key, "Create", "==", 0).then(this.client.put(key).value(value)).commit());
    return res.succeeded;
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.call("delete", key, () => this.client.delete().key(key).exec());
  }

  async list(dir: string): Promise<string[]> {
    const prefix = checkDir(dir) + "/";
    const keys = await this.call("list", dir, () => this.client.getAll().prefix(prefix).keys());
    const out = new Set<string>();
    for (const k of keys) {
      const slash = k.indexOf("/", prefix.length);
      out.add(slash < 0 ? k : k.slice(0, slash));
    }
    return [...out].sort();
  }

  async acquireLock(key: string, value: string): Promise<void> {
    checkKey(key);
    this.checkOpen();
    if (this.held.has(key)) throw new StoreLockedError(key, "this store instance");
    // etcd counts the TTL from the grant, so the watchdog below counts from before it.
    const requested = Date.now();
    const lease = this.client.lease(this.ttl);
    // etcd3 reports a lease it could not keep as "lost"; lose() ignores leases not (yet) held.
    lease.on("lost", (err: Error) => this.lose(key, lease, err));
    // Keep-alives are sent every TTL/3; the send time of the last acknowledged one bounds
    // when etcd may expire the lease, so that is what the watchdog measures from
    // (listening from the start: keep-alives begin as soon as the grant lands). Replies
    // come in order on one stream, so each one acknowledges the oldest unanswered send; a
    // send lost with its stream only makes the estimate older, which errs on the safe side.
    let lastAcked = requested;
    let sent: number[] = [];
    lease.on("keepaliveEstablished", () => { sent = []; });
    lease.on("keepaliveFired", () => {
      if (sent.length >= 16) sent.shift();
      sent.push(Date.now());
    });
    lease.on("keepaliveSucceeded", () => { lastAcked = sent.shift() ?? lastAcked; });
    let leaseId: string;
    try {
      leaseId = await this.call("grant lease for", key, () => lease.grant());
    } catch (e) {
      void this.revokeQuietly(lease);
      throw e;
    }
    let res: ITxnResponse;
    try {
      res = await this.call("acquire lock", key, () =>
        this.client.if(key, "Create", "==", 0)
          .then(this.client.put(key).value(value).lease(leaseId))
          .else(this.client.get(key))
          .commit());
    } catch (e) {
      await this.revokeQuietly(lease);
      throw e;
    }
    if (!res.succeeded) {
      await this.revokeQuietly(lease);
      const kv = res.responses[0]?.response_range?.kvs[0];
      throw new StoreLockedError(key, kv ? kv.value.toString("utf8") : "?");
    }

    const limitMs = this.ttl * 1000 * 0.8;
    const watchdog = setInterval(() => {
      if (Date.now() - lastAcked > limitMs) {
        this.lose(key, lease, new Error(`no keep-alive acknowledged for ${Date.now() - lastAcked} ms (lease TTL ${this.ttl} s)`));
      }
    }, Math.min(250, limitMs / 4));
    watchdog.unref();
    this.held.set(key, { lease, leaseId, watchdog });
  }

  async releaseLock(key: string): Promise<void> {
    const h = this.held.get(key);
    if (!h) return;
    this.forget(key);
    // Revoking the lease deletes the key with it.
    await this.call("release lock", key, () => h.lease.revoke());
  }

  async removeLock(key: string): Promise<void> {
    this.forget(key);
    await this.delete(key);
  }

  /**
   * Creates `key` bound to a lease of lockTtlSeconds that the client keeps alive (jodis);
   * `lost` resolves when etcd3 reports the lease lost or the key is deleted by someone else.
   */
  async createEphemeral(key: string, value: string): Promise<Ephemeral> {
    checkKey(key);
    this.checkOpen();
    const lease = this.client.lease(this.ttl);
    const life = new EphemeralLife();
    let watcher: Watcher | undefined;
    life.onEnd = () => void watcher?.cancel().catch(() => undefined);
    lease.on("lost", (err: Error) => life.end(err));
    try {
      const leaseId = await this.call("grant lease for", key, () => lease.grant());
      const res = await this.call("create ephemeral", key, () =>
        this.client.if(key, "Create", "==", 0).then(this.client.put(key).value(value).lease(leaseId)).commit());
      if (!res.succeeded) throw new Error(`etcd: create ephemeral ${key} on ${this.hosts.join(",")} failed: node already exists`);
      watcher = await this.call("watch", key, () => this.client.watch().key(key).create());
      watcher.on("delete", () => life.end(new Error(`node ${key} was deleted`)));
    } catch (e) {
      life.onEnd = () => {};
      life.end(asError(e));
      await this.revokeQuietly(lease);
      throw e;
    }
    // Revoking the lease deletes the key with it.
    return life.handle(() => this.call("remove ephemeral", key, () => lease.revoke()).then(() => undefined));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const errors: unknown[] = [];
    for (const key of [...this.held.keys()]) {
      await this.releaseLock(key).catch((e: unknown) => errors.push(e));
    }
    this.closed = true;
    this.client.close();
    if (errors.length > 0) throw errors[0];
  }

  private lose(key: string, lease: Lease, err: Error): void {
    if (this.held.get(key)?.lease !== lease) return;
    this.forget(key);
    void this.revokeQuietly(lease);
    this.onLockLost(key, err);
  }

  private forget(key: string): void {
    const h = this.held.get(key);
    if (!h) return;
    clearInterval(h.watchdog);
    this.held.delete(key);
  }

  private async revokeQuietly(lease: Lease): Promise<void> {
    // revoke() stops the keep-alives at once, also for a grant still in flight (which would
    // otherwise start them when it lands); only the RPC after it can fail or wait for its
    // deadline, and then the lease expires by itself within its TTL.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      lease.revoke().catch(() => undefined),
      new Promise<void>((r) => { timer = setTimeout(r, this.timeoutMs); }),
    ]);
    clearTimeout(timer);
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`etcd: use of closed store ${this.hosts.join(",")}`);
  }

  /** Runs one etcd call under the timeout, turning every failure into one readable error. */
  private async call<T>(op: string, key: string | undefined, run: () => Promise<T>): Promise<T> {
    this.checkOpen();
    try {
      return await withDeadline(this.timeoutMs, run);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      const what = key === undefined ? op : `${op} ${key}`;
      throw new Error(`etcd: ${what} on ${this.hosts.join(",")} failed: ${msg}`, { cause: e });
    }
  }
}
