// slotway forward method 2, for vanilla Redis/Valkey (no slot commands): MIGRATE every key the
// command names from the source (no REPLACE: a key on the target is never overwritten
// blindly), then run the command on the target. A key that is not on the source answers
// NOKEY and is simply absent or already moved. BUSYKEY means the target holds a copy the
// source should not have kept; the source's copy is the live one (a write would have moved it
// first), so the step is retried with REPLACE.
//
// Every key of the command moves, in one MIGRATE (see commandKeys in forward.ts): a command of
// several keys must never run on the target while one of them is still on the source. Each key
// is named once: MIGRATE ... KEYS k k restores k twice and fails with BUSYKEY (Redis 7.0).

import type { Req } from "../request.js";
import type { Route } from "../pool.js";
import {
  commandKeys, errorText, failMigration, forwardKept, keyAt, splitAddr, type ForwardHost, type Forwarder,
} from "./forward.js";
import type { MovedKeys } from "./moved-keys.js";
import type { Client } from "./client-lanes.js";

export class RedisForward implements Forwarder {
  constructor(private readonly host: ForwardHost, private readonly moved: MovedKeys) {}

  start(req: Req, slot: number, route: Route): void {
    const keys = commandKeys(req, slot);
    if (keys.length === 0 || (!this.moved.busy(slot, req) && this.moved.allMoved(req, slot, route, keys))) {
      forwardKept(req, route.master!, slot);
      return;
    }
    const client = this.moved.begin(slot, req);
    this.step(req, slot, route, keys, false, client);
  }

  /** One MIGRATE of the keys; the slot is counted as stepping (moved.begin) until it ends. */
  private step(req: Req, slot: number, route: Route, keys: number[], replace: boolean, client: Client): void {
    const target = route.master!;
    const settings = this.host.settings;
    const [host, port] = splitAddr(target.addr);
    const timeout = Math.max(1000, Math.min(settings.recvTimeout || 5000, 10_000));
    const args: (string | number | Buffer)[] = ["MIGRATE", host, port, "", req.db, timeout];
    if (replace) args.push("REPLACE");
    if (settings.productAuth) args.push("AUTH", settings.productAuth);
    args.push("KEYS");
    for (const i of keys) args.push(keyAt(req, i));
    const seq = route.seq;
    route.from!.conn(req.db, req.resp3, slot).sendInternal(args, (_r, reply, isError) => {
      if (!isError) {
        // OK or NOKEY: none of the keys is on the source any more.
        this.moved.end(slot, client);
        this.moved.note(req, slot, seq, keys);
        forwardKept(req, target, slot);
        return;
      }
      const text = errorText(reply);
      // Redis words it "ERR Target instance replied with error: BUSYKEY ...".
      if (!replace && text.includes("BUSYKEY")) {
        this.step(req, slot, route, keys, true, client);
        return;
      }
      this.moved.end(slot, client);
      failMigration(req, route, slot, text);
    }, slot);
  }
}
