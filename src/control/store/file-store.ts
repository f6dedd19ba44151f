// The embedded coordinator store: one file per key under a root folder (codis's
// coordinator_name = "filesystem", coordinator_addr = the folder).
//
// Key "/codis3/demo/slots/slot-0001" lives at "<root>/codis3/demo/slots/slot-0001". Names that
// start with "." are reserved for the store (keys may not use them, see checkKey), and `list`
// never shows them:
//
//   .<name>.<pid>.<random>.tmp   a write in progress, or left by a crashed writer (ignored)
//   .<name>.owner.<gen>          lock owner records of key <name> (see "The lock" below)
//
// Writes: the value goes to a temp file in the target's folder, which is fsynced, then renamed
// over the target (put) or hard-linked to it (create: link fails with EEXIST, so exactly one
// creator wins and nobody ever sees a half-written file), then the folder is fsynced. A crash at
// any point leaves the old or the new value, plus at most one stray temp file.
//
// Folders are never removed (a delete only unlinks the file), so a writer never races a
// concurrent rmdir of its folder; `list` hides folders that hold no key.
//
// The lock: the key's content is the caller's value (codis's Topom JSON, read by codis-fe). Who
// holds it is recorded beside it in owner records, numbered generations `.<name>.owner.<gen>`,
// each created exclusively (temp + link) and never rewritten. The highest generation is the
// lock's state: {state: "held", pid, hostname, bootId, pidNs, startTicks} or {state: "free"}.
// To acquire, read the top generation g; if it is free, or held by a process that is gone
// (same host and boot, and no process with that pid and start time), claim g+1. Only one
// claimant can create g+1, so only one wins each round. Old generations are pruned, which
// would allow an ABA race (a slow claimant recreating a pruned number), so the winner checks
// after its claim that its generation is still the top one, and backs off otherwise; the top
// generation is never deleted, which makes that check sufficient. Release deletes the key and
// then claims g+1 with {state: "free"}.
//
// Limits: an owner on another host (the folder on a network disk) or in another pid namespace
// is always considered alive, so its lock must be removed by hand (delete the key and its
// .owner.* files, like codis-admin --remove-lock). A key that exists without any owner record
// (written by codis itself, or by `put`) counts as held. During a race a claimant may see
// another claimant's short-lived record and report StoreLockedError; callers retry.
// A key cannot be both a value and a folder ("/a" and "/a/b"), unlike in etcd.

import fs, { promises as fsp, type Dirent } from "node:fs";
import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { StoreLockedError, type Store } from "./store.js";
import { checkDir, checkKey } from "./layout.js";

interface OwnerRecord {
  state: "held" | "free";
  pid: number;
  hostname: string;
  /** /proc/sys/kernel/random/boot_id: a reboot kills every owner. "" when unknown. */
  bootId: string;
  /** readlink /proc/self/ns/pid: pids are comparable only inside one namespace. "" when unknown. */
  pidNs: string;
  /** Field 22 of /proc/<pid>/stat: tells a reused pid from the owner. "" when unknown. */
  startTicks: string;
  /** Random per acquisition, so an instance recognises its own generation. */
  token: string;
  /** When the record was written, for humans. */
  time: string;
}

interface Held {
  gen: number;
  token: string;
}

type Verdict = { kind: "free" } | { kind: "dead" } | { kind: "alive"; holder: string };

/** The file-backed Store. */
export class FileStore implements Store {
  readonly kind = "filesystem";
  /** The absolute root folder. */
  readonly root: string;
  private readonly held = new Map<string, Held>();
  private closed = false;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  async get(key: string): Promise<string | undefined> {
    const file = this.fileOf(key);
    try {
      return await fsp.readFile(file, "utf8");
    } catch (e) {
      // A folder or a path through a file is simply not a key.
      if (hasCode(e, "ENOENT", "ENOTDIR", "EISDIR")) return undefined;
      throw storeError("get", key, e);
    }
  }

  async put(key: string, value: string): Promise<void> {
    const file = this.fileOf(key);
    try {
      await writeDurably(file, value, false);
    } catch (e) {
      throw storeError("put", key, e);
    }
  }

  /**
   * Writes several keys with one fsync per folder instead of one per key: every value goes to
   * its own fsynced temp file, renamed over its target, then each folder touched is fsynced once.
   * Each key is old or new after a crash, as with put.
   *
   * The files are written with fs callbacks, not fs.promises: a migration round writes a file
   * per slot, and the promise API (a FileHandle, a promise per call, a random temp name per
   * file) took about three times the CPU of the system calls themselves, on the dashboard's
   * main thread, while clients competed for the same cores.
   */
  async putMany(entries: readonly (readonly [string, string])[]): Promise<void> {
    const files = entries.map(([k, v]) => [this.fileOf(k), v, k] as const);
    const dirs = [...new Set(files.map(([f]) => path.dirname(f)))];
    let failure: unknown;
    try {
      for (const d of dirs) await mkdirDurable(d);
    } catch (e) {
      throw storeError("put", files[0]![2], e);
    }
    let next = 0;
    await new Promise<void>((resolve) => {
      let running = 0;
      const start = (): void => {
        while (running < BATCH_PARALLEL && next < files.length) {
          const [file, value, key] = files[next++]!;
          running++;
          replaceFile(file, tmpName(file), Buffer.from(value, "utf8"), (e) => {
            if (e) failure ??= storeError("put", key, e);
            running--;
            if (next < files.length) start();
            else if (running === 0) resolve();
          });
        }
      };
      if (files.length === 0) resolve();
      else start();
    });
    // Renamed files whose folder is not yet fsynced may still vanish in a crash: sync them all,
    // also when some write failed, so that what was renamed is durable before we report.
    for (const d of dirs) {
      try {
        await fsyncDir(d);
      } catch (e) {
        failure ??= storeError("put", d, e);
      }
    }
    if (failure !== undefined) throw failure;
  }

  async create(key: string, value: string): Promise<boolean> {
    const file = this.fileOf(key);
    try {
      return await writeDurably(file, value, true);
    } catch (e) {
      throw storeError("create", key, e);
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.fileOf(key);
    try {
      await fsp.unlink(file);
    } catch (e) {
      if (hasCode(e, "ENOENT", "ENOTDIR", "EISDIR", "EPERM")) return;
      throw storeError("delete", key, e);
    }
    try {
      await fsyncDir(path.dirname(file));
    } catch (e) {
      throw storeError("delete", key, e);
    }
  }

  async list(dir: string): Promise<string[]> {
    this.checkOpen();
    const d = checkDir(dir);
    const real = d === "" ? this.root : path.join(this.root, ...d.slice(1).split("/"));
    let entries: Dirent[];
    try {
      entries = await fsp.readdir(real, { withFileTypes: true });
    } catch (e) {
      if (hasCode(e, "ENOENT", "ENOTDIR")) return [];
      throw storeError("list", dir, e);
    }
    const out: string[] = [];
    for (const ent of entries) {
      if (ent.name.startsWith(".")) continue;
      if (ent.isDirectory()) {
        if (!(await holdsKeys(path.join(real, ent.name)))) continue;
      } else if (!ent.isFile()) {
        continue;
      }
      out.push(`${d}/${ent.name}`);
    }
    return out.sort();
  }

  async acquireLock(key: string, value: string): Promise<void> {
    const file = this.fileOf(key);
    if (this.held.has(key)) throw new StoreLockedError(key, "this store instance");
    // Each round either wins, throws, or saw another claimant create the generation it
    // wanted; a handful of rounds only run out when many processes fight over a dead lock.
    for (let round = 0; round < 20; round++) {
      const gens = await ownerGens(file);
      const top = gens.length > 0 ? gens[gens.length - 1]! : 0;
      if (top === 0) {
        if (await exists(file)) throw new StoreLockedError(key, `no owner record (value: ${await this.get(key)})`);
      } else {
        const verdict = await judge(await readOwner(file, top));
        if (verdict.kind === "alive") throw new StoreLockedError(key, verdict.holder);
        // A free lock whose key exists was written by someone who does not hold it.
        if (verdict.kind === "free" && (await exists(file))) {
          throw new StoreLockedError(key, `no owner record (value: ${await this.get(key)})`);
        }
      }
      const gen = top + 1;
      const token = randomBytes(8).toString("hex");
      const rec = await ownRecord("held", token);
      let claimed: boolean;
      try {
        claimed = await writeDurably(ownerFile(file, gen), JSON.stringify(rec), true);
      } catch (e) {
        throw storeError("acquire lock", key, e);
      }
      if (!claimed) continue;
      const after = await ownerGens(file);
      if (after[after.length - 1] !== gen) {
        // We recreated a pruned generation (the ABA case above): ours is not the lock.
        await fsp.rm(ownerFile(file, gen), { force: true });
        continue;
      }
      this.held.set(key, { gen, token });
      try {
        await writeDurably(file, value, false);
      } catch (e) {
        await this.releaseLock(key).catch(() => undefined);
        throw storeError("acquire lock", key, e);
      }
      await pruneBelow(file, gen);
      return;
    }
    throw new StoreLockedError(key, "too many concurrent claimants, retry");
  }

  async releaseLock(key: string): Promise<void> {
    const file = this.fileOf(key);
    const h = this.held.get(key);
    if (!h) return;
    this.held.delete(key);
    const gens = await ownerGens(file);
    // Someone judged us dead and took over (only possible from another host or namespace
    // with a wrong verdict): the key is theirs now, leave it alone.
    if (gens[gens.length - 1] !== h.gen) return;
    await this.delete(key);
    const rec = await ownRecord("free", h.token);
    try {
      if (await writeDurably(ownerFile(file, h.gen + 1), JSON.stringify(rec), true)) {
        await pruneBelow(file, h.gen + 1);
      }
    } catch (e) {
      throw storeError("release lock", key, e);
    }
  }

  async removeLock(key: string): Promise<void> {
    const file = this.fileOf(key);
    this.held.delete(key);
    await this.delete(key);
    // A free generation on top, so whoever held it (alive or not) no longer counts as owner.
    try {
      for (let round = 0; round < 20; round++) {
        const gens = await ownerGens(file);
        if (gens.length === 0) return;
        const gen = gens[gens.length - 1]! + 1;
        if (await writeDurably(ownerFile(file, gen), JSON.stringify(await ownRecord("free", "removed")), true)) {
          await pruneBelow(file, gen);
          return;
        }
      }
    } catch (e) {
      throw storeError("remove lock", key, e);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const keys = [...this.held.keys()];
    for (const key of keys) await this.releaseLock(key);
    this.closed = true;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`store: use of closed filesystem store ${this.root}`);
  }

  private fileOf(key: string): string {
    this.checkOpen();
    checkKey(key);
    // checkKey has refused "..", "." and empty segments, so the result stays under root.
    return path.join(this.root, ...key.slice(1).split("/"));
  }
}

function storeError(op: string, key: string, cause: unknown): Error {
  const msg = cause instanceof Error ? cause.message : String(cause);
  return new Error(`store: ${op} ${key} failed: ${msg}`, { cause });
}

function hasCode(e: unknown, ...codes: string[]): boolean {
  return typeof e === "object" && e !== null && "code" in e && codes.includes(String((e as { code: unknown }).code));
}

async function exists(file: string): Promise<boolean> {
  try {
    await fsp.access(file);
    return true;
  } catch (e) {
    if (hasCode(e, "ENOENT", "ENOTDIR")) return false;
    throw e;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Creates `dir` and its missing parents, and makes each new directory entry durable. */
async function mkdirDurable(dir: string): Promise<void> {
  const first = await fsp.mkdir(dir, { recursive: true });
  if (first === undefined) return;
  // Every folder from the parent of the first new one down to the parent of `dir` gained an entry.
  let d = path.dirname(first);
  const end = path.dirname(dir);
  for (;;) {
    await fsyncDir(d);
    if (d === end || d.length >= end.length) break;
    d = path.join(d, path.relative(d, end).split(path.sep)[0]!);
  }
}

/** Files putMany writes at a time (each costs a temp file, an fsync and a rename; libuv runs 4 at once). */
const BATCH_PARALLEL = 16;

/** Temp names of putMany: this process's pid, a random part drawn once, and a counter. */
const tmpPrefix = `${process.pid}.${randomBytes(6).toString("hex")}`;
let tmpCounter = 0;

function tmpName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${tmpPrefix}${(tmpCounter++).toString(36)}.tmp`);
}

/**
 * writeTemp(file, data, false) with fs callbacks (see putMany): a fsynced temp file renamed over
 * `file`; the temp file is removed when any step fails.
 */
function replaceFile(file: string, tmp: string, data: Buffer, done: (e: Error | null) => void): void {
  const fail = (e: Error): void => fs.rm(tmp, { force: true }, () => done(e));
  fs.open(tmp, "wx", 0o644, (e0, fd) => {
    if (e0) return done(e0);
    const finish = (e1: Error | null): void => fs.close(fd, (e2) => {
      const e = e1 ?? e2;
      if (e) return fail(e);
      fs.rename(tmp, file, (e3) => (e3 ? fail(e3) : done(null)));
    });
    let off = 0;
    const write = (): void => fs.write(fd, data, off, data.length - off, null, (e4, n) => {
      if (e4) return finish(e4);
      off += n;
      if (off < data.length) return write();
      fs.fsync(fd, finish);
    });
    write();
  });
}

/**
 * Writes `data` at `file` through a fsynced temp file in the same folder, then renames it over
 * the target or, when `exclusive`, links it (false when the target exists). Durable on return.
 */
async function writeDurably(file: string, data: string, exclusive: boolean): Promise<boolean> {
  const dir = path.dirname(file);
  await mkdirDurable(dir);
  if (!(await writeTemp(file, data, exclusive))) return false;
  await fsyncDir(dir);
  return true;
}

/**
 * The first half of writeDurably: a fsynced temp file renamed (or linked) over `file`, in a
 * folder that exists. The new name is durable only once the caller fsyncs the folder.
 */
async function writeTemp(file: string, data: string, exclusive: boolean): Promise<boolean> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await fsp.open(tmp, "wx", 0o644);
  let tmpLeft = true;
  try {
    try {
      await fh.writeFile(data, "utf8");
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (exclusive) {
      try {
        await fsp.link(tmp, file);
      } catch (e) {
        if (hasCode(e, "EEXIST")) return false;
        throw e;
      }
    } else {
      await fsp.rename(tmp, file);
      tmpLeft = false;
    }
  } finally {
    if (tmpLeft) await fsp.rm(tmp, { force: true });
  }
  return true;
}

/** True when the folder holds at least one key, at any depth (temp and owner files do not count). */
async function holdsKeys(dir: string): Promise<boolean> {
  let entries: Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if (hasCode(e, "ENOENT", "ENOTDIR")) return false;
    throw e;
  }
  for (const ent of entries) {
    if (ent.name.startsWith(".")) continue;
    if (ent.isFile()) return true;
    if (ent.isDirectory() && (await holdsKeys(path.join(dir, ent.name)))) return true;
  }
  return false;
}

// ---- lock owner records ----

function ownerFile(file: string, gen: number): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.owner.${gen}`);
}

/** The owner generations present beside `file`, ascending. */
async function ownerGens(file: string): Promise<number[]> {
  const prefix = `.${path.basename(file)}.owner.`;
  let names: string[];
  try {
    names = await fsp.readdir(path.dirname(file));
  } catch (e) {
    if (hasCode(e, "ENOENT", "ENOTDIR")) return [];
    throw e;
  }
  const gens: number[] = [];
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const rest = n.slice(prefix.length);
    if (/^[1-9][0-9]{0,15}$/.test(rest)) gens.push(Number(rest));
  }
  return gens.sort((a, b) => a - b);
}

async function readOwner(file: string, gen: number): Promise<OwnerRecord | string> {
  let text: string;
  try {
    text = await fsp.readFile(ownerFile(file, gen), "utf8");
  } catch (e) {
    return `unreadable owner record ${gen}: ${e instanceof Error ? e.message : String(e)}`;
  }
  try {
    const rec = JSON.parse(text) as Partial<OwnerRecord>;
    if ((rec.state === "held" || rec.state === "free") && typeof rec.pid === "number" && typeof rec.hostname === "string") {
      return rec as OwnerRecord;
    }
  } catch {
    // falls through: not JSON
  }
  return `unparsable owner record ${gen}`;
}

/** Decides whether the owner of a record may still be running. Anything uncertain is "alive". */
async function judge(rec: OwnerRecord | string): Promise<Verdict> {
  if (typeof rec === "string") return { kind: "alive", holder: rec };
  if (rec.state === "free") return { kind: "free" };
  const holder = `pid ${rec.pid} on ${rec.hostname} since ${rec.time}`;
  const me = await selfIdentity();
  if (rec.hostname !== os.hostname()) return { kind: "alive", holder };
  if (rec.bootId && me.bootId && rec.bootId !== me.bootId) return { kind: "dead" };
  if (rec.pidNs && me.pidNs && rec.pidNs !== me.pidNs) return { kind: "alive", holder };
  const stat = await procStat(rec.pid);
  if (stat === "absent") return { kind: "dead" };
  if (stat === "unknown") {
    // No /proc: fall back to signal 0, which cannot tell a reused pid.
    try {
      process.kill(rec.pid, 0);
      return { kind: "alive", holder };
    } catch (e) {
      return hasCode(e, "ESRCH") ? { kind: "dead" } : { kind: "alive", holder };
    }
  }
  // A zombie has exited; it only waits for its parent to reap it.
  if (stat.state === "Z" || stat.state === "X") return { kind: "dead" };
  if (rec.startTicks && stat.startTicks !== rec.startTicks) return { kind: "dead" };
  return { kind: "alive", holder };
}

async function procStat(pid: number): Promise<{ state: string; startTicks: string } | "absent" | "unknown"> {
  let text: string;
  try {
    text = await fsp.readFile(`/proc/${pid}/stat`, "utf8");
  } catch (e) {
    if (hasCode(e, "ENOENT", "ESRCH")) return (await exists("/proc/self/stat")) ? "absent" : "unknown";
    return "unknown";
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so cut at the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "", startTicks: fields[19] ?? "" };
}

interface Identity {
  bootId: string;
  pidNs: string;
  startTicks: string;
}

let identity: Promise<Identity> | undefined;

function selfIdentity(): Promise<Identity> {
  identity ??= (async () => {
    const bootId = (await fsp.readFile("/proc/sys/kernel/random/boot_id", "utf8").catch(() => "")).trim();
    const pidNs = await fsp.readlink("/proc/self/ns/pid").catch(() => "");
    const stat = await procStat(process.pid);
    return { bootId, pidNs, startTicks: typeof stat === "object" ? stat.startTicks : "" };
  })();
  return identity;
}

async function ownRecord(state: OwnerRecord["state"], token: string): Promise<OwnerRecord> {
  const me = await selfIdentity();
  return {
    state, pid: process.pid, hostname: os.hostname(), bootId: me.bootId, pidNs: me.pidNs,
    startTicks: me.startTicks, token, time: new Date().toISOString(),
  };
}

/** Removes owner generations below `gen` (best effort: a leftover only costs a directory entry). */
async function pruneBelow(file: string, gen: number): Promise<void> {
  for (const g of await ownerGens(file)) {
    if (g >= gen) break;
    await fsp.rm(ownerFile(file, g), { force: true }).catch(() => undefined);
  }
}
