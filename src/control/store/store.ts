// The coordinator store: a small key/value interface that the embedded file store, etcd (v3
// and v2 APIs) and ZooKeeper implement, so that everything above it (the codis key layout, the
// dashboard, the migration state machine) is written once and tested against all of them.
//
// Keys are absolute slash paths, as in codis: "/codis3/<product>/slots/slot-0042".
// Values are the UTF-8 JSON text codis writes at those paths.

/** Raised when the product lock is held by another live dashboard. */
export class StoreLockedError extends Error {
  constructor(readonly product: string, readonly holder: string) {
    super(`store: acquire lock of ${product} failed, held by ${holder}`);
    this.name = "StoreLockedError";
  }
}

/** A node that lives as long as its owner keeps it (ZooKeeper session, etcd lease or TTL). */
export interface Ephemeral {
  /** Resolves with the reason once the node is gone or can no longer be kept alive. */
  readonly lost: Promise<Error>;
  /** Stops keeping the node and deletes it. */
  remove(): Promise<void>;
}

export interface Store {
  /** Human-readable kind: "filesystem", "etcd", "etcdv2" or "zookeeper" (codis's coordinator_name). */
  readonly kind: string;
  /** Reads a key; undefined when absent. */
  get(key: string): Promise<string | undefined>;
  /** Creates or replaces a key. The write is durable when the promise resolves. */
  put(key: string, value: string): Promise<void>;
  /** Creates a key only if it does not exist; false when it already did. */
  create(key: string, value: string): Promise<boolean>;
  /** Removes a key (no error when absent). */
  delete(key: string): Promise<void>;
  /** Lists the full keys of the direct children of a folder path, sorted. */
  list(dir: string): Promise<string[]>;
  /**
   * Takes the exclusive lock at `key` (codis: /codis3/<product>/topom) with `value` as the
   * lock's content. Fails with StoreLockedError while another owner holds it. The file store
   * and etcd (v3) take over a lock whose owner is gone (a process that died, an expired
   * lease); ZooKeeper and etcd v2 keep it, as codis does, until removeLock.
   */
  acquireLock(key: string, value: string): Promise<void>;
  /** Releases a lock taken by this store instance. */
  releaseLock(key: string): Promise<void>;
  /** Removes a lock whoever holds it (codis --remove-lock), for a lock left by a dead owner. */
  removeLock(key: string): Promise<void>;
  /** Releases resources (connections, lease keep-alives). */
  close(): Promise<void>;
}

/** An in-memory store, for unit tests of the layers above. */
export class MemoryStore implements Store {
  readonly kind = "memory";
  private readonly data = new Map<string, string>();
  private readonly locks = new Set<string>();

  async get(key: string): Promise<string | undefined> {
    return this.data.get(key);
  }
  async put(key: string, value: string): Promise<void> {
    this.data.set(key, value);
  }
  async create(key: string, value: string): Promise<boolean> {
    if (this.data.has(key)) return false;
    this.data.set(key, value);
    return true;
  }
  async delete(key: string): Promise<void> {
    this.data.delete(key);
  }
  async list(dir: string): Promise<string[]> {
    const prefix = dir.endsWith("/") ? dir : dir + "/";
    const out = new Set<string>();
    for (const k of this.data.keys()) {
      if (!k.startsWith(prefix)) continue;
      const rest = k.slice(prefix.length);
      const slash = rest.indexOf("/");
      out.add(prefix + (slash < 0 ? rest : rest.slice(0, slash)));
    }
    return [...out].sort();
  }
  async acquireLock(key: string, value: string): Promise<void> {
    if (this.locks.has(key) || this.data.has(key)) {
      throw new StoreLockedError(key, this.data.get(key) ?? "?");
    }
    this.locks.add(key);
    this.data.set(key, value);
  }
  async releaseLock(key: string): Promise<void> {
    if (this.locks.delete(key)) this.data.delete(key);
  }
  async removeLock(key: string): Promise<void> {
    this.locks.delete(key);
    this.data.delete(key);
  }
  async close(): Promise<void> {}
}

/** Stores that can keep ephemeral nodes (jodis registration). */
export interface EphemeralStore extends Store {
  /** Creates `key` as an ephemeral node; fails if it exists. */
  createEphemeral(key: string, value: string): Promise<Ephemeral>;
}

export function canEphemeral(s: Store): s is EphemeralStore {
  return typeof (s as Partial<EphemeralStore>).createEphemeral === "function";
}
