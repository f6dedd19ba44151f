// codis forward method 1 (semi-async). The source moves the slot in batches in the background
// (SLOTSMGRTTAGSLOT-ASYNC, every key of a hash tag in one batch); a key is on the source until
// its batch is acknowledged by the target, and writes to a key of the batch in flight are
// refused with "being migrated" meanwhile.
//
// A command that names one key: SLOTSMGRT-EXEC-WRAPPER key argv... on the source.
//   [0, err]   the key is not on the source: run the command on the target;
//   [1, err]   the key is mid-move: try again with back-off until the deadline;
//   [2, reply] the source ran it: reply is the answer;
//   [-1, err]  the source refused the command itself (unknown, wrong arity): err is the answer.
//
// A command that names several keys of the slot (RPOPLPUSH, SUNIONSTORE, RENAME, EVAL ...):
// the wrapper looks at one key only, so it could run such a command on the source while
// another of its keys already lives on the target (or send it to the target while another is
// still on the source), and the copy made there is overwritten by the bulk move later: a lost
// write. So every key of the command is moved to the target first, one
// `SLOTSMGRT-EXEC-WRAPPER key SLOTSMGRTTAGONE host port timeout key` per key, and the command
// then runs on the target. Wrapped, the synchronous move runs only for a key that is on the
// source and not in the batch in flight (else [0] or [1]), checked and done in one step of the
// single-threaded source, so it never races the bulk move for the same key. Once moved (or
// absent), a key cannot reappear on the source: the source runs a command only for a key it
// holds, and a command of several keys never runs there. (A bare SLOTSMGRTTAGONE-ASYNC from
// the proxy would answer after later commands of the same connection, verified on codis-server
// 3.2.11, so it cannot share the pipelined connection.)
//
// Per client and slot, a worker keeps the requests in a lane behind the one in progress, so a
// client's order of commands on one slot is kept while a key is mid-move; other clients' requests
// do not wait for it (client-lanes.ts).

import { splitArrayReply } from "../../core/resp-scanner.js";
import { encodeCommand, encodeFromRanges } from "../../core/resp-encoder.js";
import { FORWARD_SEMI_ASYNC, MIGRATING } from "../../core/slot-table.js";
import { integerAt, preview } from "../merge.js";
import { ReqQueue, uncountSlot, type InternalCallback, type Req } from "../request.js";
import type { Route } from "../pool.js";
import {
  KeyMoves, commandKeys, errorText, failMigration, forwardKept, keyAt, splitAddr,
  type ForwardHost, type Forwarder, type MoveVerdict,
} from "./forward.js";
import { TAGONE_TIMEOUT } from "./sync.js";
import type { MovedKeys } from "./moved-keys.js";
import { ClientLanes, clientOf, type Client } from "./client-lanes.js";

const WRAPPER = Buffer.from("SLOTSMGRT-EXEC-WRAPPER");
const parts: number[] = [];

/** The reply of a wrapped SLOTSMGRTTAGONE: moved or absent (0), mid-move (1), or why it failed. */
function judgeWrappedMove(reply: Buffer, isError: boolean): MoveVerdict {
  if (isError) return errorText(reply);
  const n = splitArrayReply(reply, 0, reply.length, parts);
  const code = n === 2 ? integerAt(reply, parts[0]!, parts[1]!) : undefined;
  if (code === 0 || code === 1) return code;
  if (code === 2) {
    const t = reply[parts[2]!];
    if (t === 0x3a /* : */) return 0;
    if (t === 0x2d /* - */) return errorText(reply.subarray(parts[2]!, parts[3]!));
  }
  return `bad slotsmgrt-exec-wrapper resp: ${preview(reply)}`;
}

export class SemiAsyncForward implements Forwarder {
  /** Per client and slot, requests waiting behind the one in progress. */
  private readonly lanes = new ClientLanes<ReqQueue>();
  /** Set while nextInLane runs, so a step that completes at once does not recurse. */
  private laneBusy = false;
  /** Lanes to advance: slot i's and client i's (two arrays, so a kick allocates nothing). */
  private readonly kickSlots: number[] = [];
  private readonly kickClients: Client[] = [];

  constructor(private readonly host: ForwardHost, private readonly moved: MovedKeys) {}

  start(req: Req, slot: number, route: Route): void {
    const client = clientOf(req);
    const lane = this.lanes.get(slot, client);
    if (lane !== undefined) {
      lane.push(req); // keep this client's order for the slot behind its request in progress
      return;
    }
    // No lane: no request of this client and slot is mid-step here, so one whose keys are all
    // known off the source may go straight to the target (moved-keys.ts).
    const keys = commandKeys(req, slot);
    if (keys.length === 0 || this.moved.allMoved(req, slot, route, keys)) {
      forwardKept(req, route.master!, slot);
      return;
    }
    this.lanes.set(slot, client, new ReqQueue());
    this.step(req, slot, route);
  }

  private step(req: Req, slot: number, route: Route): void {
    const keys = commandKeys(req, slot);
    if (keys.length === 0 || this.moved.allMoved(req, slot, route, keys)) {
      forwardKept(req, route.master!, slot);
      this.nextInLane(slot, req);
      return;
    }
    if (req.deadline === 0) req.deadline = performance.now() + (this.host.settings.recvTimeout || 30_000);
    if (keys.length === 1) this.wrap(req, slot, route, keys[0]!);
    else this.moveAll(req, slot, route, keys);
  }

  /** One key: the source runs the command if it holds the key, else the target does. */
  private wrap(req: Req, slot: number, route: Route, ki: number): void {
    const ranges = new Int32Array(2 + req.argc * 2);
    ranges[0] = req.args![2 * ki]!;
    ranges[1] = req.args![2 * ki + 1]!;
    ranges.set(req.args!.subarray(0, req.argc * 2), 2);
    const bytes = encodeFromRanges(WRAPPER, req.buf!, ranges, req.argc + 1);
    const seq = route.seq;
    const cb: InternalCallback = (_r, reply, isError) => {
      if (isError) {
        this.fail(req, slot, errorText(reply));
        return;
      }
      const n = splitArrayReply(reply, 0, reply.length, parts);
      const code = n === 2 ? integerAt(reply, parts[0]!, parts[1]!) : undefined;
      if (code === 0) {
        this.moved.note(req, slot, seq, [ki]);
        forwardKept(req, route.master!, slot);
        this.nextInLane(slot, req);
      } else if (code === 1) {
        this.retry(req, slot, route);
      } else if (code === 2 || (code === -1 && reply[parts[2]!] === 0x2d)) {
        req.complete(reply, parts[2]!, parts[3]!, reply[parts[2]!] === 0x2d);
        this.nextInLane(slot, req);
      } else {
        this.fail(req, slot, `bad slotsmgrt-exec-wrapper resp: ${preview(reply)}`);
      }
    };
    route.from!.conn(req.db, req.resp3, slot).sendInternalRaw(bytes, cb, slot);
  }

  /** Several keys: move each to the target (see the top of this file), then run there. */
  private moveAll(req: Req, slot: number, route: Route, keys: number[]): void {
    const target = route.master!;
    const [host, port] = splitAddr(target.addr);
    const seq = route.seq;
    const moves = new KeyMoves(keys.length, judgeWrappedMove, (error, busy) => {
      if (error !== null) this.fail(req, slot, error);
      else if (busy) this.retry(req, slot, route);
      else {
        this.moved.note(req, slot, seq, keys);
        forwardKept(req, target, slot);
        this.nextInLane(slot, req);
      }
    });
    const conn = route.from!.conn(req.db, req.resp3, slot);
    for (const i of keys) {
      const key = keyAt(req, i);
      conn.sendInternalRaw(encodeCommand(["SLOTSMGRT-EXEC-WRAPPER", key, "SLOTSMGRTTAGONE", host, port, TAGONE_TIMEOUT, key]), moves.cb, slot);
    }
  }

  /** A key is mid-move: the whole step again after codis's back-off, until the deadline. */
  private retry(req: Req, slot: number, route: Route): void {
    if (performance.now() > req.deadline) {
      this.fail(req, slot, "key is still being migrated at the deadline");
      return;
    }
    // codis's back-off: immediately 5 times, then 1 ms per attempt up to 20 ms.
    const a = req.attempts++;
    const delay = a < 5 ? 0 : Math.min(a, 20);
    setTimeout(() => this.step(req, slot, route), delay);
  }

  private fail(req: Req, slot: number, why: string): void {
    failMigration(req, this.host.route(slot), slot, why);
    this.nextInLane(slot, req);
  }

  /**
   * Starts the next request of a slot's lane. A step can complete at once (its connection is
   * down and fails it synchronously) and call back here: such calls are queued and run by the
   * outermost loop, so a long lane never recurses.
   */
  private nextInLane(slot: number, req: Req): void {
    this.kickSlots.push(slot);
    this.kickClients.push(clientOf(req));
    if (this.laneBusy) return;
    this.laneBusy = true;
    try {
      while (this.kickSlots.length !== 0) this.advanceLane(this.kickSlots.shift()!, this.kickClients.shift()!);
    } finally {
      this.laneBusy = false;
    }
  }

  private advanceLane(slot: number, client: Client): void {
    const lane = this.lanes.get(slot, client);
    if (lane === undefined) return;
    const next = lane.shift();
    if (next === undefined) {
      this.lanes.delete(slot, client);
      return;
    }
    const route = this.host.route(slot);
    if ((route.state & MIGRATING) === 0 || route.method !== FORWARD_SEMI_ASYNC || route.from === null) {
      // The slot changed meanwhile (it cannot while counts are up, but be safe): release all.
      this.lanes.delete(slot, client);
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
