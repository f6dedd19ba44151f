// Keys a worker knows are off a migrating slot's source, so that their requests skip the move
// step (one backend round trip and one command on the source) and go straight to the target.
//
// Why the knowledge cannot go stale: while a slot migrates, a key that is not on the source
// never comes back there. No proxy writes the source of a migrating slot directly; the move
// steps and the bulk mover only take keys away; and the one method that runs commands on the
// source (semi-async's SLOTSMGRT-EXEC-WRAPPER) does so only for a single key that the source
// still holds. So once a step told this worker that a key is absent from the source (or moved
// it away), that stays true for as long as the slot's record is the one the step was sent
// under: the cache is keyed by the record's sequence number and forgotten when it changes.
//
// Why skipping keeps order: a request may skip only when no request of the same client and slot
// is between its step and its forward in this worker. Every earlier request of that client in
// the slot has then been sent to the target already, on the same connection, so the skipping
// one lands after them; a later request that takes a step is sent to the target only once its
// step answered. Other clients' requests in flight are concurrent with it (client-lanes.ts).
import { SLOT_COUNT } from "../../core/slot.js";
import type { Req } from "../request.js";
import type { Route } from "../pool.js";
import { ClientLanes, clientOf, type Client } from "./client-lanes.js";

/** Cached keys per worker, over all slots; past it the cache starts over (it is only a shortcut). */
const MAX_KEYS = 65_536;

export class MovedKeys {
  private readonly keys: (Set<string> | undefined)[] = new Array(SLOT_COUNT);
  private readonly seqs = new Int32Array(SLOT_COUNT).fill(-1);
  /** Per slot and client: requests between their move step and their forward (redis method). */
  private readonly stepping = new ClientLanes<number>();
  private total = 0;

  /** True when every key (argument indexes) of req is known off the source under this route. */
  allMoved(req: Req, slot: number, route: Route, keys: readonly number[]): boolean {
    const set = this.keys[slot];
    if (set === undefined || this.seqs[slot] !== route.seq) return false;
    for (const i of keys) if (!set.has(keyString(req, i))) return false;
    return true;
  }

  /** Records that a step, sent under the record with sequence seq, took these keys off the source. */
  note(req: Req, slot: number, seq: number, keys: readonly number[]): void {
    if (this.total + keys.length > MAX_KEYS) this.clear();
    let set = this.keys[slot];
    if (set === undefined || this.seqs[slot] !== seq) {
      if (set !== undefined) this.total -= set.size;
      set = new Set();
      this.keys[slot] = set;
      this.seqs[slot] = seq;
    }
    for (const i of keys) {
      const k = keyString(req, i);
      if (!set.has(k)) {
        set.add(k);
        this.total++;
      }
    }
  }

  /** True when a request of req's client in the slot is mid-step in this worker (a skip would overtake it). */
  busy(slot: number, req: Req): boolean {
    return this.stepping.get(slot, clientOf(req)) !== undefined;
  }

  /** req starts a move step; until end(), its client's requests of the slot do not skip. Returns the client. */
  begin(slot: number, req: Req): Client {
    const c = clientOf(req);
    this.stepping.set(slot, c, (this.stepping.get(slot, c) ?? 0) + 1);
    return c;
  }

  /** The step begin() returned c for is over. */
  end(slot: number, c: Client): void {
    const n = (this.stepping.get(slot, c) ?? 1) - 1;
    if (n <= 0) this.stepping.delete(slot, c);
    else this.stepping.set(slot, c, n);
  }

  private clear(): void {
    this.keys.fill(undefined);
    this.seqs.fill(-1);
    this.total = 0;
  }
}

/** The db and the key's bytes as one string (latin1 maps each byte to one character). */
function keyString(req: Req, i: number): string {
  return String.fromCharCode(req.db) + req.buf!.toString("latin1", req.args![2 * i], req.args![2 * i + 1]);
}
