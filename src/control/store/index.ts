// Opens the coordinator store named by codis's coordinator_name / coordinator_addr / coordinator_auth.

import { promises as fsp } from "node:fs";
import path from "node:path";
import { EtcdStore, type EtcdStoreOptions } from "./etcd-store.js";
import { FileStore } from "./file-store.js";
import type { Store } from "./store.js";

export { StoreLockedError, MemoryStore, type Store } from "./store.js";
export { FileStore } from "./file-store.js";
export { EtcdStore, type EtcdStoreOptions } from "./etcd-store.js";

/**
 * Opens a store: "filesystem" (alias "fs", addr = root folder, keys under <root>/data as codis
 * lays them out) or "etcd" (addr = "host:port,...",
 * auth = "user:password"). ZooKeeper, which codis also accepts, is refused with a clear error.
 */
export async function openStore(
  coordinatorName: string,
  coordinatorAddr: string,
  auth?: string,
  etcdOptions: Omit<EtcdStoreOptions, "auth"> = {},
): Promise<Store> {
  switch (coordinatorName) {
    case "filesystem":
    case "fs": {
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
      return new EtcdStore(coordinatorAddr, { ...etcdOptions, ...(auth ? { auth } : {}) });
    case "zookeeper":
    case "zk":
      throw new Error(`store: coordinator ${coordinatorName} is not supported by slotway, use "filesystem" or "etcd"`);
    default:
      throw new Error(`store: invalid coordinator name = ${JSON.stringify(coordinatorName)}, want "filesystem" or "etcd"`);
  }
}
