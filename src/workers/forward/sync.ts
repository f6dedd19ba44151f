// codis forward method 0 (sync): SLOTSMGRTTAGONE host port timeout key on the source moves the
// key (and every key of its hash tag) to the target before the command runs there.

import { preview } from "../merge.js";
import type { Req } from "../request.js";
import type { Route } from "../pool.js";
import {
  errorText, failMigration, forwardKept, routingKeyIndex, splitAddr, type Forwarder,
} from "./forward.js";

export class SyncForward implements Forwarder {
  start(req: Req, slot: number, route: Route): void {
    const ki = routingKeyIndex(req);
    const target = route.master!;
    if (ki < 0) {
      forwardKept(req, target, slot);
      return;
    }
    const key = req.buf!.subarray(req.args![2 * ki], req.args![2 * ki + 1]);
    const [host, port] = splitAddr(target.addr);
    this.move(req, slot, route, ["SLOTSMGRTTAGONE", host, port, "3000", key], 1);
  }

  private move(req: Req, slot: number, route: Route, cmd: (string | Buffer)[], attempt: number): void {
    route.from!.conn(req.db, req.resp3, slot).sendInternal(
      cmd,
      (_r, reply, isError) => {
        // Pika (3.5, 4.0) fails a SLOTSMGRTTAGONE that waited behind another move of the same
        // key or tag ("ERR Unknown Error", "ERR cont get the key type.": checked on the real
        // servers, the keys are intact) and one that met its closed connection to the target;
        // the next call answers right. A real failure fails every try.
        if (isError && attempt < SYNC_TRIES) {
          this.move(req, slot, route, cmd, attempt + 1);
          return;
        }
        if (isError || reply[0] !== 0x3a /* : */) {
          failMigration(req, route, slot, isError ? errorText(reply) : `bad slotsmgrt resp: ${preview(reply)}`);
          return;
        }
        forwardKept(req, route.master!, slot);
      },
      slot,
    );
  }
}

/** Tries of SLOTSMGRTTAGONE before the request fails. */
const SYNC_TRIES = 3;
