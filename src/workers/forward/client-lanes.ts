// State of a migrating slot's requests kept per client and per slot (a client's lane).
//
// Why per client and not per slot: what a worker must keep while a slot migrates is each
// client's order of commands on the slot. Two clients' requests in flight at the same time are
// concurrent, and any order between them is right (neither saw the other's reply). Holding every
// client of the slot behind the one whose key is mid-move (what a lane per slot does) costs each
// of them a round trip to the source they do not need, and serializes a pipelined client's
// requests behind other clients' moves.
//
// A client is its reply sink (Req.sink(): the session, also for the parts of a split MGET/MSET);
// the proxy's own requests (no sink) share one lane.
import type { Req } from "../request.js";

export type Client = object | null;

export function clientOf(req: Req): Client {
  return req.sink();
}

export class ClientLanes<T> {
  private readonly slots = new Map<number, Map<Client, T>>();

  get(slot: number, client: Client): T | undefined {
    return this.slots.get(slot)?.get(client);
  }

  set(slot: number, client: Client, value: T): void {
    let m = this.slots.get(slot);
    if (m === undefined) this.slots.set(slot, (m = new Map()));
    m.set(client, value);
  }

  delete(slot: number, client: Client): void {
    const m = this.slots.get(slot);
    if (m === undefined) return;
    m.delete(client);
    if (m.size === 0) this.slots.delete(slot);
  }
}
