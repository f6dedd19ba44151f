// codis forward method 0 (sync): SLOTSMGRTTAGONE host port timeout key on the source moves a key
// (and every key of its hash tag) to the target; once every key the command names has been
// moved (or was not there), the command runs on the target.
//
// Every key, not only the first: see commandKeys in forward.ts. The moves of one request go in
// one pipeline on the slot's source connection.
//
// slotway method 3 (Pika classic) is the same with one more check: after the moves, EXISTS of
// every key the command names, on the source, must answer 0. Pika keeps its own record of which
// keys a hash tag has, and that record is wrong after some commands (RPOPLPUSH files its
// destination as a string, SMOVE and SUNIONSTORE do not file theirs at all: checked on 3.5.0 and
// 4.0.1), so its SLOTSMGRTTAGONE can answer success while a key stays behind; running the
// command on the target then would act on a key that is not there. Such a request fails
// instead (the dashboard's mover fixes Pika's record and moves the key; a retry succeeds).
//
// Order: a client's requests of a slot reach the target in the order they arrived, also when
// one of them needs another round trip to the source (a retried move, the EXISTS check): each
// waits in its client's queue of the slot until those before it went on. Other clients'
// requests do not wait for it (client-lanes.ts).

import type { Req } from "../request.js";
import type { Route } from "../pool.js";
import { preview } from "../merge.js";
import {
  KeyMoves, commandKeys, errorText, failMigration, forwardKept, keyAt, splitAddr, type Forwarder, type MoveVerdict,
} from "./forward.js";
import type { MovedKeys } from "./moved-keys.js";
import { ClientLanes, clientOf, type Client } from "./client-lanes.js";

/** codis-proxy's bound of one SLOTSMGRTTAGONE on the source (ms). */
export const TAGONE_TIMEOUT = "3000";

/** Tries of a request's moves before it fails (Pika fails some moves transiently, see below). */
const SYNC_TRIES = 3;

/** A SLOTSMGRTTAGONE reply: the number of keys moved, or an error. */
export function judgeTagOne(reply: Buffer, isError: boolean): MoveVerdict {
  if (isError) return errorText(reply);
  return reply[0] === 0x3a /* : */ ? 0 : `bad slotsmgrt resp: ${preview(reply)}`;
}

interface Item {
  req: Req;
  route: Route;
  /** Argument indexes of the command's keys in this slot. */
  keys: number[];
  /** Sequence of the slot record the moves were sent under (for the moved-keys cache). */
  seq: number;
  /** Rounds of moves so far. */
  tries: number;
  /** Its moves are done: it may go to the target (or fail) once it heads the queue. */
  ready: boolean;
  /** Set when it must fail. */
  error: string | null;
  /** Its client (the queue it waits in). */
  client: Client;
}

export class SyncForward implements Forwarder {
  /** Requests of each client and slot between their first step and their forwarding, in arrival order. */
  private readonly queues = new ClientLanes<Item[]>();

  /** verify: method 3, check on the source that the command's keys are gone (see above). */
  constructor(private readonly moved: MovedKeys, private readonly verify = false) {}

  start(req: Req, slot: number, route: Route): void {
    const keys = commandKeys(req, slot);
    const client = clientOf(req);
    let q = this.queues.get(slot, client);
    if (q === undefined && (keys.length === 0 || this.moved.allMoved(req, slot, route, keys))) {
      forwardKept(req, route.master!, slot);
      return;
    }
    if (q === undefined) {
      q = [];
      this.queues.set(slot, client, q);
    }
    const item: Item = { req, route, keys, seq: route.seq, tries: 0, ready: keys.length === 0, error: null, client };
    q.push(item);
    if (item.ready) this.drain(slot, client);
    else this.move(item, slot);
  }

  private move(item: Item, slot: number): void {
    const { req, route, keys } = item;
    const [host, port] = splitAddr(route.master!.addr);
    item.tries++;
    const moves = new KeyMoves(keys.length, judgeTagOne, (error) => {
      // Pika (3.5, 4.0) fails a SLOTSMGRTTAGONE that waited behind another move of the same
      // key or tag ("ERR Unknown Error", "ERR cont get the key type.": checked on the real
      // servers, the keys are intact) and one that met its closed connection to the target;
      // the next call answers right. A real failure fails every try.
      if (error !== null && item.tries < SYNC_TRIES) {
        this.move(item, slot);
        return;
      }
      if (error !== null) item.error = error;
      else if (this.verify) {
        this.check(item, slot);
        return;
      }
      item.ready = true;
      this.drain(slot, item.client);
    });
    const conn = route.from!.conn(req.db, req.resp3, slot);
    for (const i of keys) conn.sendInternal(["SLOTSMGRTTAGONE", host, port, TAGONE_TIMEOUT, keyAt(req, i)], moves.cb, slot);
  }

  /** Method 3: EXISTS of every key of the command on the source. */
  private check(item: Item, slot: number): void {
    const { req, route, keys } = item;
    const args: (string | Buffer)[] = ["EXISTS"];
    for (const i of keys) args.push(keyAt(req, i));
    route.from!.conn(req.db, req.resp3, slot).sendInternal(args, (_r, reply, isError) => {
      if (isError) item.error = errorText(reply);
      else if (reply[0] !== 0x3a || reply[1] !== 0x30 /* :0 */) {
        item.error = `the source still holds ${reply.toString("latin1", 1).trim()} key(s) of the command after SLOTSMGRTTAGONE `
          + "(Pika lost track of them, or they are in their last second of TTL, which Pika does not move; the dashboard moves them): try again";
      }
      item.ready = true;
      this.drain(slot, item.client);
    }, slot);
  }

  /** Sends on (or fails) the client's requests of the slot whose moves are done, stopping at the first that is not. */
  private drain(slot: number, client: Client): void {
    const q = this.queues.get(slot, client);
    if (q === undefined) return;
    while (q.length !== 0 && q[0]!.ready) {
      const it = q.shift()!;
      if (it.error !== null) {
        failMigration(it.req, it.route, slot, it.error);
      } else {
        if (it.keys.length !== 0) this.moved.note(it.req, slot, it.seq, it.keys);
        forwardKept(it.req, it.route.master!, slot);
      }
    }
    if (q.length === 0) this.queues.delete(slot, client);
  }
}
