// codis forward method 0 (sync): SLOTSMGRTTAGONE host port timeout key on the source moves a key
// (and every key of its hash tag) to the target; once every key the command names has been
// moved (or was not there), the command runs on the target.
//
// Every key, not only the first: see commandKeys in forward.ts. The moves of one request go
// in one pipeline on the slot's source connection, and the request is forwarded when the last
// reply is in; since later requests of the slot queue their moves behind on that same
// connection and are forwarded on the same target connection, a worker's order of commands on
// a slot is kept.

import type { Req } from "../request.js";
import type { Route } from "../pool.js";
import { preview } from "../merge.js";
import {
  KeyMoves, commandKeys, errorText, failMigration, forwardKept, keyAt, splitAddr, type Forwarder, type MoveVerdict,
} from "./forward.js";
import type { MovedKeys } from "./moved-keys.js";

/** codis-proxy's bound of one SLOTSMGRTTAGONE on the source (ms). */
export const TAGONE_TIMEOUT = "3000";

/** A SLOTSMGRTTAGONE reply: the number of keys moved, or an error. */
export function judgeTagOne(reply: Buffer, isError: boolean): MoveVerdict {
  if (isError) return errorText(reply);
  return reply[0] === 0x3a /* : */ ? 0 : `bad slotsmgrt resp: ${preview(reply)}`;
}

export class SyncForward implements Forwarder {
  constructor(private readonly moved: MovedKeys) {}

  start(req: Req, slot: number, route: Route): void {
    const target = route.master!;
    const keys = commandKeys(req, slot);
    if (keys.length === 0 || (!this.moved.busy(slot) && this.moved.allMoved(req, slot, route, keys))) {
      forwardKept(req, target, slot);
      return;
    }
    const [host, port] = splitAddr(target.addr);
    const seq = route.seq;
    this.moved.begin(slot);
    const moves = new KeyMoves(keys.length, judgeTagOne, (error) => {
      this.moved.end(slot);
      if (error === null) {
        this.moved.note(req, slot, seq, keys);
        forwardKept(req, target, slot);
      } else {
        failMigration(req, route, slot, error);
      }
    });
    const conn = route.from!.conn(req.db, req.resp3, slot);
    for (const i of keys) conn.sendInternal(["SLOTSMGRTTAGONE", host, port, TAGONE_TIMEOUT, keyAt(req, i)], moves.cb, slot);
  }
}
