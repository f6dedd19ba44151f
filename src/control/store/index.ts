// Opens the coordinator store named by codis's coordinator_name / coordinator_addr / coordinator_auth.

import { promises as fsp } from "node:fs";
import path from "node:path";
import { EtcdStore } from "./etcd-store.js";
import { Etcd2Store } from "./etcd2-store.js";
import { FileStore } from "./file-store.js";
import { ZkStore } from "./zk-store.js";
import type { Store } from "./store.js";

export { StoreLockedError, MemoryStore, canEphemeral, type Store, type Ephemeral, type EphemeralStore } from "./store.js";
export { FileStore } from "./file-store.js";
export { EtcdStore, type EtcdStoreOptions } from "./etcd-store.js";
export { Etcd2Store } from "./etcd2-store.js";
export { ZkStore } from "./zk-store.js";

/** The coordinator names slotway accepts (codis's, plus "etcdv2"), with their aliases. */
export const COORDINATOR_NAMES = ["filesystem", "fs", "etcd", "etcdv2", "zookeeper", "zk"] as const;

/** The canonical name of a coordinator ("fs" → "filesystem", "zk" → "zookeeper"); undefined if unknown. */
export function coordinatorKind(name: string): "filesystem" | "etcd" | "etcdv2" | "zookeeper" | undefined {
  switch (name) {
    case "filesystem":
    case "fs":
      return "filesystem";
    case "etcd":
    case "etcdv2":
      return name;
    case "zookeeper":
    case "zk":
      return "zookeeper";
    default:
      return undefined;
  }
}

export interface StoreOptions {
  /** Budget of each call, in ms (default 5000). */
  timeoutMs?: number;
  /**
   * How long the store's liveness outlasts this process's silence, in seconds: the etcd v3
   * lease TTL (lock and ephemeral nodes), the etcd v2 TTL of ephemeral nodes, the ZooKeeper
   * session timeout. Defaults: 10 (etcd v3), 20 (etcd v2), 30 (ZooKeeper).
   */
  ttlSeconds?: number;
  /** etcd v3: called when a held lock's lease is lost. */
  onLockLost?: (key: string, err: Error) => void;
}

/**
 * Opens a store: "filesystem" (alias "fs", addr = root folder, keys under <root>/data as codis
 * lays them out), "etcd" (etcd's v3 API), "etcdv2" (etcd's v2 API, as codis 3.2 speaks it) or
 * "zookeeper" (alias "zk"); for the network stores addr = "host:port,..." and auth =
 * "user:password".
 */
export async function openStore(
  coordinatorName: string,
  coordinatorAddr: string,
  auth?: string,
  opts: StoreOptions = {},
): Promise<Store> {
  const withAuth = auth ? { auth } : {};
  switch (coordinatorKind(coordinatorName)) {
    case "filesystem": {
      if (coordinatorAddr === "") throw new Error("store: coordinator_addr (the store folder) is empty");
      // codis's filesystem client keeps its keys under <root>/data; so do we, so that
      // codis-admin --filesystem, codis-fe and codis-proxy can read the same folder.
      const store = new FileStore(path.join(coordinatorAddr, "data"));
      // Fail at startup, not at the first write, when the folder cannot be made.
      try {
        await fsp.mkdir(store.root, { recursive: true });
      } catch (e) {
        throw new Error(`store: cannot create folder ${store.root}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      return store;
    }
    case "etcd":
      return new EtcdStore(coordinatorAddr, {
        ...withAuth,
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
        ...(opts.ttlSeconds !== undefined ? { lockTtlSeconds: opts.ttlSeconds } : {}),
        ...(opts.onLockLost ? { onLockLost: opts.onLockLost } : {}),
      });
    case "etcdv2":
      return new Etcd2Store(coordinatorAddr, {
        ...withAuth,
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
        ...(opts.ttlSeconds !== undefined ? { ttlSeconds: opts.ttlSeconds } : {}),
      });
    case "zookeeper":
      return new ZkStore(coordinatorAddr, {
        ...withAuth,
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
        ...(opts.ttlSeconds !== undefined ? { sessionTimeoutMs: opts.ttlSeconds * 1000 } : {}),
      });
    default:
      throw new Error(`store: invalid coordinator name = ${JSON.stringify(coordinatorName)}, want "filesystem", "etcd", "etcdv2" or "zookeeper"`);
  }
}
export { listDashboards, listProxies, readTopom, type ProductEntry } from "./products.js";
