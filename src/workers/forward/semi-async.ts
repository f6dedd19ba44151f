// codis forward method 1 (semi-async): SLOTSMGRT-EXEC-WRAPPER key argv... on the source.
// Reply [0, ...]: the key is not there, go to the target; [1, ...]: mid-move, retry with
// back-off until the deadline; [2, reply]: the source ran it and reply is the answer.
//
// Per slot, a worker keeps its requests in a lane behind one that is being retried, so the
// worker's order of commands on one slot is kept while a key is mid-move.

import { splitArrayReply } from "../../core/resp-scanner.js";
import { encodeFromRanges } from "../../core/resp-encoder.js";
import { FORWARD_SEMI_ASYNC, MIGRATING } from "../../core/slot-table.js";
import { integerAt, preview } from "../merge.js";
import { ReqQueue, uncountSlot, type InternalCallback, type Req } from "../request.js";
import type { Route } from "../pool.js";
import {
  errorText, failMigration, forwardKept, routingKeyIndex, type ForwardHost, type Forwarder,
} from "./forward.js";

const WRAPPER = Buffer.from("SLOTSMGRT-EXEC-WRAPPER");

export class SemiAsyncForward implements Forwarder {
  /** Per slot, requests waiting behind one that is being retried. */
  private readonly lanes = new Map<number, ReqQueue>();
  /** Set while nextInLane runs, so a step that completes at once does not recurse. */
  private laneBusy = false;
  private readonly laneKicks: number[] = [];

  constructor(private readonly host: ForwardHost) {}

  start(req: Req, slot: number, route: Route): void {
    const lane = this.lanes.get(slot);
    if (lane !== undefined) {
      lane.push(req); // keep this worker's order for the slot behind a request in retry
      return;
    }
    this.lanes.set(slot, new ReqQueue());
    this.step(req, slot, route);
  }

  private step(req: Req, slot: number, route: Route): void {
    const ki = routingKeyIndex(req);
    if (ki < 0) {
      forwardKept(req, route.master!, slot);
      this.nextInLane(slot);
      return;
    }
    if (req.deadline === 0) req.deadline = performance.now() + (this.host.settings.recvTimeout || 30_000);
    const ranges = new Int32Array(2 + req.argc * 2);
    ranges[0] = req.args![2 * ki]!;
    ranges[1] = req.args![2 * ki + 1]!;
    ranges.set(req.args!.subarray(0, req.argc * 2), 2);
    const bytes = encodeFromRanges(WRAPPER, req.buf!, ranges, req.argc + 1);
    const cb: InternalCallback = (_r, reply, isError) => {
      const route2 = this.host.route(slot);
      if (isError) {
        failMigration(req, route2, slot, errorText(reply));
        this.nextInLane(slot);
        return;
      }
      const parts: number[] = [];
      const n = splitArrayReply(reply, 0, reply.length, parts);
      const code = n === 2 ? integerAt(reply, parts[0]!, parts[1]!) : undefined;
      if (code === 0) {
        forwardKept(req, route.master!, slot);
        this.nextInLane(slot);
      } else if (code === 1) {
        if (performance.now() > req.deadline) {
          failMigration(req, route2, slot, "key is still being migrated at the deadline");
          this.nextInLane(slot);
          return;
        }
        // codis's back-off: immediately 5 times, then 1 ms per attempt up to 20 ms.
        const a = req.attempts++;
        const delay = a < 5 ? 0 : Math.min(a, 20);
        setTimeout(() => this.step(req, slot, route), delay);
      } else if (code === 2) {
        req.complete(reply, parts[2]!, parts[3]!, reply[parts[2]!] === 0x2d);
        this.nextInLane(slot);
      } else {
        failMigration(req, route2, slot, `bad slotsmgrt-exec-wrapper resp: ${preview(reply)}`);
        this.nextInLane(slot);
      }
    };
    route.from!.conn(req.db, req.resp3, slot).sendInternalRaw(bytes, cb, slot);
  }

  /**
   * Starts the next request of a slot's lane. A step can complete at once (its connection is
   * down and fails it synchronously) and call back here: such calls are queued and run by the
   * outermost loop, so a long lane never recurses.
   */
  private nextInLane(slot: number): void {
    this.laneKicks.push(slot);
    if (this.laneBusy) return;
    this.laneBusy = true;
    try {
      for (let s = this.laneKicks.shift(); s !== undefined; s = this.laneKicks.shift()) this.advanceLane(s);
    } finally {
      this.laneBusy = false;
    }
  }

  private advanceLane(slot: number): void {
    const lane = this.lanes.get(slot);
    if (lane === undefined) return;
    const next = lane.shift();
    if (next === undefined) {
      this.lanes.delete(slot);
      return;
    }
    const route = this.host.route(slot);
    if ((route.state & MIGRATING) === 0 || route.method !== FORWARD_SEMI_ASYNC || route.from === null) {
      // The slot changed meanwhile (it cannot while counts are up, but be safe): release all.
      this.lanes.delete(slot);
      for (let r: Req | undefined = next; r !== undefined; r = lane.shift()) {
        if (r.counted) {
          r.counted = false;
          uncountSlot(slot);
        }
        this.host.dispatch(r, slot, r.buf!, r.start, r.end, r.args, r.argc);
      }
      return;
    }
    this.step(next, slot, route);
  }
}
