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

import type { Req } from "../request.js";
import type { Pool, Route } from "../pool.js";
import type { RouterSettings } from "../router.js";
import { keyIndexes } from "../../core/command-table.js";
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

/** Index of the argument that decides the slot (the key codis migrates by), or -1. */
export function routingKeyIndex(req: Req): number {
  const cmd = req.cmd!;
  const i = cmd.routeIndex >= 0 ? cmd.routeIndex : firstKeyIndex(req);
  return i >= 0 && i < req.argc ? i : -1;
}

/** The argument indexes of every key a kept request names (command table key specs). */
export function keptKeyIndexes(req: Req): number[] {
  return keyIndexes(req.cmd!, req.argc, (i) => req.buf!.subarray(req.args![2 * i], req.args![2 * i + 1]));
}

function firstKeyIndex(req: Req): number {
  const keys = keptKeyIndexes(req);
  return keys.length > 0 ? keys[0]! : -1;
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
