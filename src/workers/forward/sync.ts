// codis forward method 0 (sync): SLOTSMGRTTAGONE host port timeout key on the source moves the
// key (and every key of its hash tag) to the target before the command runs there.
//
// slotway method 3 (Pika classic) is the same with one more check: after the move, EXISTS of
// every key the command names, on the source, must answer 0. Pika keeps its own record of which
// keys a hash tag has, and that record is wrong after some commands (RPOPLPUSH files its
// destination as a string, SMOVE and SUNIONSTORE do not file theirs at all: checked on 3.5.0 and
// 4.0.1), so its SLOTSMGRTTAGONE can answer success while a key stays behind; running the
// command on the target then would act on a key that is not there. Such a request fails
// instead (the dashboard's mover fixes Pika's record and moves the key; a retry succeeds).
//
// Order: the requests of a slot reach the target in the order they arrived, also when one of
// them needs another round trip to the source (a retried move, the EXISTS check): each waits in
// the slot's queue until those before it went on.

import { preview } from "../merge.js";
import type { Req } from "../request.js";
import type { Route } from "../pool.js";
import {
  errorText, failMigration, forwardKept, keptKeyIndexes, routingKeyIndex, splitAddr, type Forwarder,
} from "./forward.js";

interface Item {
  req: Req;
  route: Route;
  /** SLOTSMGRTTAGONE tries so far. */
  tries: number;
  /** Its moves are done: it may go to the target (or fail) once it heads the queue. */
  ready: boolean;
  /** Set when it must fail. */
  error: string | null;
}

export class SyncForward implements Forwarder {
  /** Requests of each slot between their first step and their forwarding, in arrival order. */
  private readonly queues = new Map<number, Item[]>();

  /** verify: method 3, check on the source that the command's keys are gone (see above). */
  constructor(private readonly verify = false) {}

  start(req: Req, slot: number, route: Route): void {
    const item: Item = { req, route, tries: 0, ready: false, error: null };
    let q = this.queues.get(slot);
    if (q === undefined) {
      q = [];
      this.queues.set(slot, q);
    }
    q.push(item);
    const ki = routingKeyIndex(req);
    if (ki < 0) {
      item.ready = true;
      this.drain(slot);
      return;
    }
    this.move(item, slot, ki);
  }

  private move(item: Item, slot: number, ki: number): void {
    const { req, route } = item;
    const key = req.buf!.subarray(req.args![2 * ki], req.args![2 * ki + 1]);
    const [host, port] = splitAddr(route.master!.addr);
    item.tries++;
    route.from!.conn(req.db, req.resp3, slot).sendInternal(
      ["SLOTSMGRTTAGONE", host, port, "3000", key],
      (_r, reply, isError) => {
        // Pika (3.5, 4.0) fails a SLOTSMGRTTAGONE that waited behind another move of the same
        // key or tag ("ERR Unknown Error", "ERR cont get the key type.": checked on the real
        // servers, the keys are intact) and one that met its closed connection to the target;
        // the next call answers right. A real failure fails every try.
        if (isError && item.tries < SYNC_TRIES) {
          this.move(item, slot, ki);
          return;
        }
        if (isError || reply[0] !== 0x3a /* : */) {
          item.error = isError ? errorText(reply) : `bad slotsmgrt resp: ${preview(reply)}`;
        } else if (this.verify) {
          this.check(item, slot);
          return;
        }
        item.ready = true;
        this.drain(slot);
      },
      slot,
    );
  }

  /** Method 3: EXISTS of every key of the command on the source. */
  private check(item: Item, slot: number): void {
    const { req, route } = item;
    const args: (string | Buffer)[] = ["EXISTS"];
    for (const i of keptKeyIndexes(req)) args.push(req.buf!.subarray(req.args![2 * i], req.args![2 * i + 1]));
    route.from!.conn(req.db, req.resp3, slot).sendInternal(args, (_r, reply, isError) => {
      if (isError) item.error = errorText(reply);
      else if (reply[0] !== 0x3a || reply[1] !== 0x30 /* :0 */) {
        item.error = `the source still holds ${reply.toString("latin1", 1).trim()} key(s) of the command after SLOTSMGRTTAGONE `
          + "(Pika lost track of them; the dashboard moves them): try again";
      }
      item.ready = true;
      this.drain(slot);
    }, slot);
  }

  /** Sends on (or fails) the slot's requests whose moves are done, stopping at the first that is not. */
  private drain(slot: number): void {
    const q = this.queues.get(slot);
    if (q === undefined) return;
    while (q.length !== 0 && q[0]!.ready) {
      const it = q.shift()!;
      if (it.error !== null) failMigration(it.req, it.route, slot, it.error);
      else forwardKept(it.req, it.route.master!, slot);
    }
    if (q.length === 0) this.queues.delete(slot);
  }
}

/** Tries of SLOTSMGRTTAGONE before the request fails. */
const SYNC_TRIES = 3;
