// Commands about the whole keyspace, answered by asking every group's master and merging:
//   DBSIZE     sum over groups
//   SCAN       one group after the other; the client's cursor carries the group id and that
//              group's own cursor: (backend cursor << 14) | group id, so it is opaque and stays
//              valid when groups are added or removed (a removed group is skipped)
//   KEYS       union over groups (proxy_allow_keys); FLUSHDB / FLUSHALL to every group
//              (proxy_allow_flushdb / proxy_allow_flushall)
//   RANDOMKEY  groups in random order until one has a key
//   INFO       the first group's reply with its Keyspace section summed over groups
//   PUBSUB     CHANNELS / SHARDCHANNELS union, NUMSUB / SHARDNUMSUB summed per channel, NUMPAT
//              from the master that has most (counts are of the proxies' subscriptions: every
//              worker of every proxy subscribes once per channel on the channel's backend)
// SCAN and KEYS return only keys whose slot the group serves (or migrates away), so a stray
// copy left on a backend that no longer owns its slot is not shown.
// Rare commands: replies are decoded and re-encoded, and closures are fine here.

import type { Router } from "./router.js";
import type { Req } from "./request.js";
import type { Pool } from "./pool.js";
import type { ProxyConfig } from "../core/config-schema.js";
import { MIGRATING, ONLINE } from "../core/slot-table.js";
import { SLOT_COUNT, slotOf } from "../core/slot.js";
import { Wide, equalsFolded, type CommandInfo } from "../core/command-table.js";
import { decodeReply, RespErrorValue, type Decoded } from "../core/resp-decoder.js";
import { encodeCommand, encodeValue, errorReply, type RespInput } from "../core/resp-encoder.js";
import * as E from "../core/errors.js";

const GROUP_BITS = 14n;
const GROUP_MASK = (1n << GROUP_BITS) - 1n;

interface Group {
  id: number;
  pool: Pool;
  /** A slot the group serves (the backend connection is pinned by slot). */
  slot: number;
}

export class ClusterWide {
  constructor(private readonly router: Router, private readonly config: () => ProxyConfig) {}

  /** Groups that hold keys now: masters of online slots and sources of migrating ones, by id. */
  groups(): Group[] {
    const byId = new Map<number, Group>();
    for (let s = 0; s < SLOT_COUNT; s++) {
      const r = this.router.route(s);
      if ((r.state & ONLINE) === 0) continue;
      if (r.master !== null && !byId.has(r.group)) byId.set(r.group, { id: r.group, pool: r.master, slot: s });
      if ((r.state & MIGRATING) !== 0 && r.from !== null && !byId.has(r.fromGroup)) {
        byId.set(r.fromGroup, { id: r.fromGroup, pool: r.from, slot: s });
      }
    }
    return [...byId.values()].sort((a, b) => a.id - b.id);
  }

  /** Whether a key found on group gid belongs there (its slot is served or migrated by gid). */
  private owns(gid: number, key: Buffer): boolean {
    const r = this.router.route(slotOf(key, 0, key.length));
    if ((r.state & ONLINE) === 0) return false;
    return r.group === gid || ((r.state & MIGRATING) !== 0 && r.fromGroup === gid);
  }

  /** Serves a ClusterWide command. argv are the client's arguments. */
  run(req: Req, cmd: CommandInfo, argv: Buffer[]): void {
    const c = this.config();
    switch (cmd.variant as Wide) {
      case Wide.DbSize:
        return this.fanOut(req, argv, (rs) => rs.reduce<number>((n, r) => n + Number(r), 0));
      case Wide.Keys:
        if (!c.proxy_allow_keys) return fail(req, E.notAllowed("KEYS"));
        return this.fanOut(req, argv, (rs, gs) => {
          const out: Buffer[] = [];
          rs.forEach((r, i) => {
            for (const k of r as Buffer[]) if (this.owns(gs[i]!.id, k)) out.push(k);
          });
          return out;
        });
      case Wide.FlushDb:
      case Wide.FlushAll: {
        const allowed = cmd.variant === Wide.FlushDb ? c.proxy_allow_flushdb : c.proxy_allow_flushall;
        if (!allowed) return fail(req, E.notAllowed(cmd.name));
        return this.fanOut(req, argv, () => ({ simple: "OK" }));
      }
      case Wide.Scan:
        return this.scan(req, argv);
      case Wide.RandomKey:
        return this.randomKey(req, this.shuffled(this.groups()));
      case Wide.Info:
        return this.info(req, argv);
      case Wide.PubSub:
        return this.pubsub(req, argv);
    }
  }

  /** Sends argv to the groups; cb gets the decoded replies, or the first error reply. */
  private gather(req: Req, argv: (Buffer | string)[], groups: Group[],
    cb: (error: Buffer | null, failed: boolean, replies: Decoded[]) => void): void {
    const bytes = encodeCommand(argv);
    const replies: Decoded[] = new Array(groups.length);
    let left = groups.length;
    let error: Buffer | null = null;
    let failed = false;
    groups.forEach((g, i) => {
      g.pool.conn(req.db, false, g.slot).sendInternalRaw(bytes, (r, reply, isError) => {
        if (isError) {
          if (error === null) {
            error = Buffer.from(reply);
            failed = r.failed;
          }
        } else {
          replies[i] = decodeReply(reply, 0, true).value;
        }
        if (--left === 0) cb(error, failed, replies);
      }, g.slot);
    });
  }

  /** Sends argv to every group (or the given ones) and answers merge(replies) once all answered. */
  private fanOut(req: Req, argv: (Buffer | string)[], merge: (replies: Decoded[], groups: Group[]) => RespInput,
    groups = this.groups()): void {
    if (groups.length === 0) {
      req.failed = true;
      req.completeWith(E.SLOT_NOT_READY_REPLY, true);
      return;
    }
    this.gather(req, argv, groups, (error, failed, replies) => {
      if (error !== null) {
        req.failed = failed;
        req.completeWith(error, true);
        return;
      }
      let out: RespInput;
      try {
        out = merge(replies, groups);
      } catch (e) {
        req.completeWith(errorReply(E.badReply(String(argv[0]).toLowerCase(), (e as Error).message)), true);
        return;
      }
      req.completeWith(encodeValue(out, req.resp3), false);
    });
  }

  private scan(req: Req, argv: Buffer[]): void {
    const text = argv[1]!.toString("latin1");
    // As Redis's strtoul: decimal, an optional sign, wrapping modulo 2^64.
    if (!/^[+-]?\d+$/.test(text)) return fail(req, "ERR invalid cursor");
    const cursor = BigInt.asUintN(64, BigInt(text));
    const groups = this.groups();
    let gid = Number(cursor & GROUP_MASK);
    let inner = cursor >> GROUP_BITS;
    if (cursor === 0n) {
      if (groups.length === 0) return done(req, ["0", []]);
      gid = groups[0]!.id;
      inner = 0n;
    }
    const group = groups.find((x) => x.id >= gid);
    if (group === undefined) return done(req, ["0", []]);
    if (group.id !== gid) inner = 0n; // that group is gone: start the next one from its beginning
    const args: Buffer[] = [Buffer.from("SCAN"), Buffer.from(inner.toString()), ...argv.slice(2)];
    this.fanOut(req, args, (rs) => {
      const r = rs[0] as Decoded[];
      if (!Array.isArray(r) || r.length !== 2 || !Array.isArray(r[1])) throw new Error("SCAN reply is not [cursor, keys]");
      const next = BigInt(String((r[0] as Buffer).toString("latin1")));
      const keys = (r[1] as Buffer[]).filter((k) => this.owns(group.id, k));
      let out = 0n;
      if (next !== 0n) out = (next << GROUP_BITS) | BigInt(group.id);
      else {
        const after = groups.find((x) => x.id > group.id);
        if (after !== undefined) out = BigInt(after.id);
      }
      return [out.toString(), keys];
    }, [group]);
  }

  private randomKey(req: Req, groups: Group[]): void {
    const g = groups.shift();
    if (g === undefined) return done(req, null);
    this.gather(req, ["RANDOMKEY"], [g], (error, failed, replies) => {
      if (error !== null) {
        req.failed = failed;
        req.completeWith(error, true);
        return;
      }
      const key = replies[0] as Buffer | null;
      if (key === null) this.randomKey(req, groups); // this group is empty: ask the next
      else done(req, key);
    });
  }

  private info(req: Req, argv: Buffer[]): void {
    const sections = argv.slice(1).map((a) => a.toString("latin1").toLowerCase());
    const wantsKeyspace = sections.length === 0 || sections.some((s) => ["keyspace", "all", "everything", "default"].includes(s));
    const groups = this.groups();
    if (groups.length === 0 || !wantsKeyspace) return this.fanOut(req, argv, (rs) => rs[0] as Buffer, groups.slice(0, 1));
    // The full reply of one group, with the Keyspace section summed over every group.
    this.gather(req, argv, [groups[0]!], (error, failed, replies) => {
      if (error !== null) {
        req.failed = failed;
        req.completeWith(error, true);
        return;
      }
      const text = String(replies[0]);
      this.fanOut(req, ["INFO", "keyspace"], (rs) => replaceKeyspace(text, rs.map((r) => String(r))), groups);
    });
  }

  private pubsub(req: Req, argv: Buffer[]): void {
    const sub = argv[1]!.toString("latin1").toUpperCase();
    switch (sub) {
      case "CHANNELS":
      case "SHARDCHANNELS":
        return this.fanOut(req, argv, (rs) => {
          const seen = new Map<string, Buffer>();
          for (const r of rs) for (const ch of r as Buffer[]) seen.set(ch.toString("latin1"), ch);
          return [...seen.values()];
        });
      case "NUMSUB":
      case "SHARDNUMSUB":
        return this.fanOut(req, argv, (rs) => {
          const counts = new Map<string, number>();
          for (const r of rs) {
            const a = r as (Buffer | number)[];
            for (let i = 0; i + 1 < a.length; i += 2) {
              const k = (a[i] as Buffer).toString("latin1");
              counts.set(k, (counts.get(k) ?? 0) + Number(a[i + 1]));
            }
          }
          const out: RespInput[] = [];
          for (let i = 2; i < argv.length; i++) out.push(argv[i]!, counts.get(argv[i]!.toString("latin1")) ?? 0);
          return out;
        });
      case "NUMPAT":
        return this.fanOut(req, argv, (rs) => Math.max(0, ...rs.map((r) => Number(r))));
      default:
        // HELP and unknown subcommands: any backend answers (and words its own errors).
        return this.fanOut(req, argv, (rs) => toInput(rs[0]!), this.groups().slice(0, 1));
    }
  }

  private shuffled<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }
}

/** A decoded value back as encoder input (HELP texts: arrays of status lines come back as strings). */
function toInput(v: Decoded): RespInput {
  if (v instanceof RespErrorValue) return { error: v.message };
  if (Array.isArray(v)) return v.map(toInput);
  return v;
}

/** The INFO text with its "# Keyspace" section replaced by the sum of the groups' sections. */
export function replaceKeyspace(info: string, keyspaces: string[]): Buffer {
  const dbs = new Map<number, { keys: number; expires: number; ttlSum: number }>();
  for (const ks of keyspaces) {
    for (const line of ks.split(/\r?\n/)) {
      const m = /^db(\d+):keys=(\d+),expires=(\d+),avg_ttl=(\d+)/.exec(line);
      if (!m) continue;
      const db = Number(m[1]);
      const d = dbs.get(db) ?? { keys: 0, expires: 0, ttlSum: 0 };
      d.keys += Number(m[2]);
      d.expires += Number(m[3]);
      d.ttlSum += Number(m[4]) * Number(m[3]); // avg_ttl is over the keys with an expire
      dbs.set(db, d);
    }
  }
  const lines = [...dbs.entries()].sort((a, b) => a[0] - b[0])
    .map(([db, d]) => `db${db}:keys=${d.keys},expires=${d.expires},avg_ttl=${d.expires > 0 ? Math.round(d.ttlSum / d.expires) : 0}`);
  const section = ["# Keyspace", ...lines].join("\r\n") + "\r\n";
  const at = info.indexOf("# Keyspace");
  if (at < 0) return Buffer.from(info + (info.endsWith("\r\n") || info === "" ? "" : "\r\n") + section);
  const next = info.indexOf("\r\n# ", at + 1);
  const tail = next < 0 ? "" : info.slice(next + 2);
  return Buffer.from(info.slice(0, at) + section + (tail === "" ? "" : "\r\n" + tail));
}

function fail(req: Req, text: string): void {
  req.completeWith(errorReply(text), true);
}

function done(req: Req, v: RespInput): void {
  req.completeWith(encodeValue(v, req.resp3), false);
}

/** True when argv[i] equals the upper-case word. */
export function argIs(argv: Buffer[], i: number, word: Buffer): boolean {
  return i < argv.length && equalsFolded(argv[i]!, word);
}
