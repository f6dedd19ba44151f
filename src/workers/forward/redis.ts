// slotway forward method 2, for vanilla Redis/Valkey (no slot commands): MIGRATE every key the
// command names from the source (no REPLACE: a key on the target is never overwritten
// blindly), then run the command on the target. A key that is not on the source answers
// NOKEY and is simply absent or already moved. BUSYKEY means the target holds a copy the
// source should not have kept; the source's copy is the live one (a write would have moved it
// first), so the step is retried with REPLACE.

import type { Req } from "../request.js";
import type { Route } from "../pool.js";
import {
  errorText, failMigration, forwardKept, keptKeyIndexes, splitAddr, type ForwardHost, type Forwarder,
} from "./forward.js";

export class RedisForward implements Forwarder {
  constructor(private readonly host: ForwardHost) {}

  start(req: Req, slot: number, route: Route): void {
    this.step(req, slot, route, false);
  }

  private step(req: Req, slot: number, route: Route, replace: boolean): void {
    const target = route.master!;
    const keys = keptKeyIndexes(req);
    if (keys.length === 0) {
      forwardKept(req, target, slot);
      return;
    }
    const settings = this.host.settings;
    const [host, port] = splitAddr(target.addr);
    const timeout = Math.max(1000, Math.min(settings.recvTimeout || 5000, 10_000));
    const args: (string | number | Buffer)[] = ["MIGRATE", host, port, "", req.db, timeout];
    if (replace) args.push("REPLACE");
    if (settings.productAuth) args.push("AUTH", settings.productAuth);
    args.push("KEYS");
    for (const i of keys) args.push(req.buf!.subarray(req.args![2 * i], req.args![2 * i + 1]));
    route.from!.conn(req.db, req.resp3, slot).sendInternal(args, (_r, reply, isError) => {
      if (!isError) {
        forwardKept(req, target, slot);
        return;
      }
      const text = errorText(reply);
      // Redis words it "ERR Target instance replied with error: BUSYKEY ...".
      if (!replace && text.includes("BUSYKEY")) {
        this.step(req, slot, route, true);
        return;
      }
      failMigration(req, route, slot, text);
    }, slot);
  }
}
