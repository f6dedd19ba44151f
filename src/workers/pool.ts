// Backend pools of one worker: the connections of one backend address, and the decoded route
// of a slot that points at them.

import { BackendConn, type BackendOptions } from "./backend-conn.js";

/** The connections of one backend address in this worker, by (database, protocol). */
export class Pool {
  private readonly lists: (BackendConn[] | undefined)[] = [];

  constructor(readonly addr: string, private readonly parallel: number, private readonly opts: BackendOptions) {}

  /** The connection for a slot: the same one for every request of that slot. */
  conn(db: number, resp3: boolean, slot: number): BackendConn {
    const key = db * 2 + (resp3 ? 1 : 0);
    let list = this.lists[key];
    if (list === undefined) {
      list = [];
      for (let i = 0; i < this.parallel; i++) list.push(new BackendConn(this.addr, db, resp3, this.opts));
      this.lists[key] = list;
    }
    return this.parallel === 1 ? list[0]! : list[(slot < 0 ? 0 : slot) % this.parallel]!;
  }

  forEach(fn: (c: BackendConn) => void): void {
    for (const list of this.lists) if (list) for (const c of list) fn(c);
  }

  close(): void {
    this.forEach((c) => c.close());
    this.lists.length = 0;
  }
}

/** A decoded slot record with its pools resolved (cached per worker, refreshed by sequence). */
export class Route {
  seq = -1;
  state = 0;
  master: Pool | null = null;
  from: Pool | null = null;
  replicas: Pool[][] | null = null;
  method = 0;
  group = 0;
  fromGroup = 0;
}
