// Migration forwarding, proxy side (DESIGN §7): what a worker does with a request of a slot
// whose record says MIGRATING. Each forward method has its own file:
//
//   sync.ts        codis method 0: SLOTSMGRTTAGONE the key on the source, then the target
//   semi-async.ts  codis method 1: SLOTSMGRT-EXEC-WRAPPER on the source (run there, or go on)
//   redis.ts       slotway method 2 (vanilla Redis/Valkey): MIGRATE the keys, then the target
//
// Invariant every method keeps: the request's in-flight count of the slot (taken by the
// router before it read the slot's state) stays up from the first step to the final reply,
// so a slot change waits for the whole exchange and never sees the slot drained in between.
// A step that fails completes the request with an error naming the source and the slot;
// nothing is retried silently past the request's deadline.

import type { InternalCallback, Req } from "../request.js";
import type { Pool, Route } from "../pool.js";
import type { RouterSettings } from "../router.js";
import { keyIndexes } from "../../core/command-table.js";
import { slotOf } from "../../core/slot.js";
import { errorReply } from "../../core/resp-encoder.js";
import * as E from "../../core/errors.js";

/** What the forward methods need from the router. */
export interface ForwardHost {
  readonly settings: RouterSettings;
  /** The current decoded route of a slot. */
  route(slot: number): Route;
  /** Sends a request again from the start (its bytes kept in req.buf/args). */
  dispatch(req: Req, slot: number, buf: Buffer, start: number, end: number, args: Int32Array | null, argc: number): void;
}

/** One forward method: carries a migrating slot's request to its final reply. */
export interface Forwarder {
  start(req: Req, slot: number, route: Route): void;
}

/** Sends a kept request (bytes in req.buf) to the slot's new owner. */
export function forwardKept(req: Req, target: Pool, slot: number): void {
  target.conn(req.db, req.resp3, slot).send(req, req.buf!, req.start, req.end);
}

/** Completes a request whose migration step failed, naming the source and the slot. */
export function failMigration(req: Req, route: Route, slot: number, why: string): void {
  req.failed = true;
  req.completeWith(errorReply(E.migrateFailed(why, route.from?.addr ?? "?", slot)), true);
}

/**
 * The argument indexes of the distinct keys a kept request names, each key once (by its
 * bytes): every key of the command table's key specs (Redis 7's, which include the destination
 * of SORT ... STORE and GEORADIUS[BYMEMBER] ... STORE|STOREDIST).
 *
 * Why every key and not the routing key: a command that names several keys of one slot must
 * find all of them on the side it runs on. Deciding by its first key alone runs it on the
 * target while another of its keys is still on the source; the command then creates a second
 * copy of that key on the target, which the bulk move overwrites later (a lost write).
 *
 * Only keys of `slot` are listed: a key of another slot (possible only when the codis-compatible
 * first-key routing lets a command through with keys of several slots) belongs to another
 * group's routing and must never be moved to this slot's target.
 */
export function commandKeys(req: Req, slot: number): number[] {
  const cmd = req.cmd!;
  const buf = req.buf!;
  const args = req.args!;
  const argAt = (i: number): Buffer => buf.subarray(args[2 * i], args[2 * i + 1]);
  const keys = keyIndexes(cmd, req.argc, argAt);
  const out: number[] = [];
  const seen = keys.length > 1 ? new Set<string>() : null;
  for (const i of keys) {
    if (slotOf(buf, args[2 * i]!, args[2 * i + 1]!) !== slot) continue;
    if (seen !== null) {
      const k = buf.toString("latin1", args[2 * i], args[2 * i + 1]);
      if (seen.has(k)) continue;
      seen.add(k);
    }
    out.push(i);
  }
  return out;
}

/** The key argument at index i of a kept request (a view, no copy). */
export function keyAt(req: Req, i: number): Buffer {
  return req.buf!.subarray(req.args![2 * i], req.args![2 * i + 1]);
}

/** What a move step's reply says: the key is where it must be (0), mid-move (1), or why it failed. */
export type MoveVerdict = 0 | 1 | string;

/**
 * The moves of one request's keys, sent in one pipeline on the slot's source connection: done
 * runs once, when every reply is in, with the first failure (or null) and whether some key
 * was mid-move. Replies are judged inside their callback, since a reply is a view of the
 * connection's receive buffer that later reads reuse.
 */
export class KeyMoves {
  private left: number;
  private busy = false;
  private error: string | null = null;
  readonly cb: InternalCallback;

  constructor(n: number, judge: (reply: Buffer, isError: boolean) => MoveVerdict, done: (error: string | null, busy: boolean) => void) {
    this.left = n;
    this.cb = (_r, reply, isError) => {
      const v = judge(reply, isError);
      if (typeof v === "string") this.error ??= v;
      else if (v === 1) this.busy = true;
      if (--this.left === 0) done(this.error, this.busy);
    };
  }
}

/** "host:port" → [host, port] (IPv6 brackets removed). */
export function splitAddr(addr: string): [string, string] {
  const i = addr.lastIndexOf(":");
  return [addr.slice(0, i).replace(/^\[|\]$/g, ""), addr.slice(i + 1)];
}

/** The text of an error reply (without the leading '-' and the CRLF). */
export function errorText(reply: Buffer): string {
  return reply.toString("utf8", 1).trim();
}
