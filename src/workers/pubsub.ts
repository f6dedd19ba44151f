// Pub/sub across proxies and workers.
//
// Which backend carries a channel: the owner (master) of the channel's slot, hashed like a
// key (codis CRC-32 of the {tag}, mod 1024). Every proxy reads the same slot table, so every
// proxy agrees: PUBLISH ch and SPUBLISH ch are forwarded like a write to the key "ch", and a
// subscriber's worker subscribes ch on that same backend. A pattern can match channels of any
// slot, so PSUBSCRIBE is made on every master. Each message is published on exactly one
// backend, so a subscriber receives it once.
//
//   client SUBSCRIBE ─▶ ClientSubs (the session's own set; replies made by the proxy)
//                          └─▶ PubSubHub (per worker): one subscription per channel per backend,
//                                shared by the worker's subscribers ─▶ SubConn (RESP2, per master)
//   backend message ─▶ SubConn ─▶ hub ─▶ every local subscriber's session (RESP2 array, or
//                                          RESP3 push: the same frame with '>' for '*')
//
// When a channel's slot changes owner, the hub subscribes on the new owner as soon as a slot
// record names it (a migration first writes it while the slot is still locked, so before any
// PUBLISH can reach it) and drops the old subscription only once the slot is unlocked again.

import net from "node:net";
import { ChunkReader } from "./chunk-reader.js";
import { ReplyScanner, ScanStatus, splitArrayReply } from "../core/resp-scanner.js";
import { encodeCommand, NULL_BULK, NULL_RESP3 } from "../core/resp-encoder.js";
import { slotOf, SLOT_COUNT } from "../core/slot.js";
import { LOCKED, ONLINE } from "../core/slot-table.js";
import { SubKind } from "../core/command-table.js";
import type { Router } from "./router.js";
import type { SlotWatch, SlotWatcher } from "./slot-watch.js";
import { log } from "../log.js";

/** What the hub delivers to: a session. */
export interface Subscriber {
  /** Queues a message frame (already in the subscriber's protocol). */
  pushMessage(frame: Buffer): void;
  readonly resp3: boolean;
}

const SUBSCRIBE_CMD = ["SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"];
const UNSUBSCRIBE_CMD = ["UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"];
const RETRY_MIN = 50;
const RETRY_MAX = 3000;

class Entry {
  readonly subscribers = new Set<Subscriber>();
  /** Backends this worker subscribed the name on. */
  readonly conns = new Set<SubConn>();
  /** Slot sequence word the assignment was made at. */
  seq = -1;
  constructor(readonly kind: SubKind, readonly name: Buffer, readonly key: string, readonly slot: number) {}
}

/** One RESP2 connection in subscribed mode to one backend, for one worker. */
class SubConn {
  private socket: net.Socket | null = null;
  private readonly reader = new ChunkReader(new ReplyScanner(1 << 30), 1 << 30);
  private ready = false;
  private closed = false;
  private retry = RETRY_MIN;
  private timer: NodeJS.Timeout | null = null;
  /** What this connection must be subscribed to, by kind (re-sent after a reconnect). */
  readonly names: Set<Entry>[] = [new Set(), new Set(), new Set()];
  private readonly host: string;
  private readonly port: number;

  constructor(readonly addr: string, private readonly hub: PubSubHub) {
    const i = addr.lastIndexOf(":");
    this.host = addr.slice(0, i).replace(/^\[|\]$/g, "");
    this.port = Number(addr.slice(i + 1));
    this.connect();
  }

  get empty(): boolean {
    return this.names[0]!.size + this.names[1]!.size + this.names[2]!.size === 0;
  }

  subscribe(e: Entry): void {
    this.names[e.kind]!.add(e);
    if (this.ready) this.write([SUBSCRIBE_CMD[e.kind]!, e.name]);
  }

  unsubscribe(e: Entry): void {
    this.names[e.kind]!.delete(e);
    if (this.ready) this.write([UNSUBSCRIBE_CMD[e.kind]!, e.name]);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.destroy();
  }

  private write(args: (string | Buffer)[]): void {
    this.socket?.write(encodeCommand(args));
  }

  private connect(): void {
    const sock = net.connect({ host: this.host, port: this.port, noDelay: true });
    this.socket = sock;
    sock.on("connect", () => {
      if (this.socket !== sock) return;
      this.ready = true;
      const auth = this.hub.productAuth();
      if (auth) this.write(["AUTH", auth]);
      // (Re)subscribe everything assigned here, one command per kind.
      for (let k = 0; k < 3; k++) {
        const set = this.names[k]!;
        if (set.size > 0) this.write([SUBSCRIBE_CMD[k]!, ...[...set].map((e) => e.name)]);
      }
    });
    sock.on("data", (d: Buffer) => {
      this.retry = RETRY_MIN;
      this.onData(d);
    });
    sock.on("error", (err) => log.debug(`pubsub ${this.addr}: ${err.message}`));
    sock.on("close", () => {
      if (this.socket !== sock) return;
      this.ready = false;
      this.socket = null;
      this.reader.reset();
      if (this.closed) return;
      log.warn(`pubsub connection to ${this.addr} closed; resubscribing`);
      const delay = this.retry * (0.8 + Math.random() * 0.4);
      this.retry = Math.min(this.retry * 2, RETRY_MAX);
      this.timer = setTimeout(() => {
        this.timer = null;
        if (!this.closed) this.connect();
      }, delay);
      this.timer.unref();
    });
  }

  private readonly parts: number[] = [];

  private onData(chunk: Buffer): void {
    const reader = this.reader;
    reader.push(chunk);
    for (;;) {
      const st = reader.next();
      if (st === ScanStatus.Incomplete) return;
      if (st === ScanStatus.Error) {
        log.warn(`pubsub ${this.addr}: bad reply, ${reader.scanner.error}`);
        this.socket?.destroy();
        return;
      }
      const sc = reader.scanner;
      const buf = reader.buf;
      const s = sc.replyStart;
      const e = sc.next;
      if (buf[s] === 0x2d) {
        log.warn(`pubsub ${this.addr}: ${buf.toString("utf8", s + 1, e - 2)}`);
        continue;
      }
      const parts = this.parts;
      const n = splitArrayReply(buf, s, e, parts);
      if (n < 3) continue;
      const kind = messageKind(buf, parts[0]!, parts[1]!);
      if (kind < 0) continue; // a subscribe confirmation or +OK of AUTH
      this.hub.deliver(kind as SubKind, buf, parts[2]!, parts[3]!, s, e);
    }
  }
}

const MESSAGE = Buffer.from("message");
const PMESSAGE = Buffer.from("pmessage");
const SMESSAGE = Buffer.from("smessage");

/** The SubKind of a "$7\r\nmessage\r\n" element, or -1 for any other word. */
function messageKind(buf: Buffer, s: number, e: number): number {
  if (buf[s] !== 0x24) return -1;
  const nl = buf.indexOf(10, s);
  const w = buf.subarray(nl + 1, e - 2);
  if (w.equals(MESSAGE)) return SubKind.Channel;
  if (w.equals(PMESSAGE)) return SubKind.Pattern;
  if (w.equals(SMESSAGE)) return SubKind.Shard;
  return -1;
}

/** The pub/sub hub of one worker. */
export class PubSubHub implements SlotWatcher {
  private readonly entries = new Map<string, Entry>();
  private readonly bySlot = new Map<number, Set<Entry>>();
  private patterns = 0;
  private readonly conns = new Map<string, SubConn>();
  private readonly lastSeq = new Int32Array(SLOT_COUNT).fill(-1);
  private masters: string[] = [];

  constructor(private readonly router: Router, private readonly watch: SlotWatch, readonly productAuth: () => string) {}

  /** Channel (or pattern) entries this worker subscribes (for stats and tests). */
  get size(): number {
    return this.entries.size;
  }

  add(kind: SubKind, name: Buffer, sub: Subscriber): void {
    const key = kind + name.toString("latin1");
    let e = this.entries.get(key);
    if (e === undefined) {
      const slot = kind === SubKind.Pattern ? -1 : slotOf(name, 0, name.length);
      e = new Entry(kind, Buffer.from(name), key, slot);
      this.entries.set(key, e);
      if (slot >= 0) {
        let set = this.bySlot.get(slot);
        if (set === undefined) this.bySlot.set(slot, (set = new Set()));
        set.add(e);
      } else {
        if (this.patterns++ === 0) this.refreshMasters();
      }
      this.assign(e);
      this.watch.want(this);
    }
    e.subscribers.add(sub);
  }

  remove(kind: SubKind, name: Buffer, sub: Subscriber): void {
    const e = this.entries.get(kind + name.toString("latin1"));
    if (e === undefined || !e.subscribers.delete(sub) || e.subscribers.size > 0) return;
    this.entries.delete(e.key);
    for (const c of e.conns) this.unsubscribeOn(c, e);
    e.conns.clear();
    if (e.slot >= 0) {
      const set = this.bySlot.get(e.slot)!;
      set.delete(e);
      if (set.size === 0) this.bySlot.delete(e.slot);
    } else {
      this.patterns--;
    }
  }

  /** A message frame buf[s, e) from a backend; the channel (or pattern) name is buf[ns, ne). */
  deliver(kind: SubKind, buf: Buffer, ns: number, ne: number, s: number, e: number): void {
    if (buf[ns] !== 0x24) return;
    const nl = buf.indexOf(10, ns);
    const entry = this.entries.get(kind + buf.toString("latin1", nl + 1, ne - 2));
    if (entry === undefined) return;
    const resp2 = buf.subarray(s, e);
    let resp3: Buffer | null = null;
    for (const sub of entry.subscribers) {
      if (sub.resp3) {
        if (resp3 === null) {
          resp3 = Buffer.from(resp2);
          resp3[0] = 0x3e; // '>' push: the same frame as an out-of-band RESP3 message
        }
        sub.pushMessage(resp3);
      } else {
        sub.pushMessage(resp2);
      }
    }
  }

  private conn(addr: string): SubConn {
    let c = this.conns.get(addr);
    if (c === undefined) {
      c = new SubConn(addr, this);
      this.conns.set(addr, c);
    }
    return c;
  }

  private unsubscribeOn(c: SubConn, e: Entry): void {
    c.unsubscribe(e);
    if (c.empty) {
      c.close();
      this.conns.delete(c.addr);
    }
  }

  /** Subscribes e where it must be; drops stale backends unless its slot is mid-change. */
  private assign(e: Entry): void {
    const want: string[] = [];
    let settled = true;
    if (e.slot >= 0) {
      const r = this.router.route(e.slot);
      e.seq = r.seq;
      if ((r.state & ONLINE) !== 0 && r.master !== null) want.push(r.master.addr);
      settled = (r.state & LOCKED) === 0;
    } else {
      want.push(...this.masters);
    }
    for (const addr of want) {
      const c = this.conn(addr);
      if (!e.conns.has(c)) {
        e.conns.add(c);
        c.subscribe(e);
      }
    }
    if (!settled) return;
    for (const c of [...e.conns]) {
      if (!want.includes(c.addr)) {
        e.conns.delete(c);
        this.unsubscribeOn(c, e);
      }
    }
  }

  /** The distinct master addresses of the online slots, in address order. */
  private refreshMasters(): void {
    const set = new Set<string>();
    for (let s = 0; s < SLOT_COUNT; s++) {
      const r = this.router.route(s);
      this.lastSeq[s] = r.seq;
      if ((r.state & ONLINE) !== 0 && r.master !== null) set.add(r.master.addr);
    }
    this.masters = [...set].sort();
  }

  pollSlots(): boolean {
    if (this.entries.size === 0) return false;
    let changed = false;
    for (let s = 0; s < SLOT_COUNT; s++) {
      if (this.router.slotSeq(s) !== this.lastSeq[s]) {
        changed = true;
        break;
      }
    }
    if (!changed) return true;
    const before = this.masters.join(",");
    this.refreshMasters();
    const mastersMoved = before !== this.masters.join(",");
    for (const [slot, set] of this.bySlot) {
      const seq = this.lastSeq[slot]!;
      for (const e of set) if (e.seq !== seq) this.assign(e);
    }
    if (this.patterns > 0 && mastersMoved) {
      for (const e of this.entries.values()) if (e.slot < 0) this.assign(e);
    }
    return true;
  }
}

// ------------------------------------------------------------------------------------------
// One client's subscriptions, and the replies the proxy makes for them (as Redis words them).

export class ClientSubs {
  readonly names: Map<string, Buffer>[] = [new Map(), new Map(), new Map()];

  constructor(private readonly hub: PubSubHub, private readonly sub: Subscriber) {}

  /** Channels plus patterns (what (P)SUBSCRIBE replies count), or shard channels. */
  count(kind: SubKind): number {
    return kind === SubKind.Shard ? this.names[2]!.size : this.names[0]!.size + this.names[1]!.size;
  }

  get total(): number {
    return this.names[0]!.size + this.names[1]!.size + this.names[2]!.size;
  }

  /** Subscribes to each name; returns the reply frames (one per name). */
  subscribe(kind: SubKind, names: Buffer[], resp3: boolean): Buffer {
    const out: Buffer[] = [];
    const map = this.names[kind]!;
    for (const n of names) {
      const key = n.toString("latin1");
      if (!map.has(key)) {
        map.set(key, n);
        this.hub.add(kind, n, this.sub);
      }
      out.push(frame(resp3, SUBSCRIBE_CMD[kind]!.toLowerCase(), n, this.count(kind)));
    }
    return Buffer.concat(out);
  }

  /** Unsubscribes from each name, or from all of this kind when names is empty. */
  unsubscribe(kind: SubKind, names: Buffer[], resp3: boolean): Buffer {
    const map = this.names[kind]!;
    const word = UNSUBSCRIBE_CMD[kind]!.toLowerCase();
    const list = names.length > 0 ? names : [...map.values()];
    if (list.length === 0) return frame(resp3, word, null, this.count(kind));
    const out: Buffer[] = [];
    for (const n of list) {
      const key = n.toString("latin1");
      if (map.delete(key)) this.hub.remove(kind, n, this.sub);
      out.push(frame(resp3, word, n, this.count(kind)));
    }
    return Buffer.concat(out);
  }

  /** Drops every subscription (the client left, or RESET). */
  dropAll(): void {
    for (let k = 0; k < 3; k++) {
      for (const n of this.names[k]!.values()) this.hub.remove(k as SubKind, n, this.sub);
      this.names[k]!.clear();
    }
  }
}

/** [word, name, count] as a RESP2 array or a RESP3 push. */
function frame(resp3: boolean, word: string, name: Buffer | null, count: number): Buffer {
  const w = Buffer.from(word, "latin1");
  const head = Buffer.from(`${resp3 ? ">" : "*"}3\r\n$${w.length}\r\n`, "latin1");
  const nameBytes = name === null
    ? (resp3 ? NULL_RESP3 : NULL_BULK)
    : Buffer.concat([Buffer.from(`$${name.length}\r\n`, "latin1"), name, CRLF]);
  return Buffer.concat([head, w, CRLF, nameBytes, Buffer.from(`:${count}\r\n`, "latin1")]);
}

const CRLF = Buffer.from("\r\n");
