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
    route.from!.conn(req.db, req.resp3, slot).sendInternal(
      ["SLOTSMGRTTAGONE", host, port, "3000", key],
      (_r, reply, isError) => {
        if (isError || reply[0] !== 0x3a /* : */) {
          failMigration(req, route, slot, isError ? errorText(reply) : `bad slotsmgrt resp: ${preview(reply)}`);
          return;
        }
        forwardKept(req, target, slot);
      },
      slot,
    );
  }
}
