// Exclusive backend connections: one client at a time holds one, for as long as a blocked
// command waits (blocking.ts) or a transaction is open (transaction.ts). A shared, pipelined
// connection cannot carry either: a blocked command would stall every request behind it, and
// MULTI/WATCH state belongs to a connection.
//
// Bounded per backend address per worker (backend_max_exclusive_conns); an idle connection is
// kept for reuse (same database and protocol), a few per address. A connection that failed
// is closed for good rather than reused: its backend-side state (client id, MULTI) is gone.

import { BackendConn, ConnState, type BackendOptions } from "./backend-conn.js";

const IDLE_KEEP = 8;

class AddrPool {
  inUse = 0;
  readonly idle: BackendConn[] = [];
}

export class ExclusivePools {
  private readonly pools = new Map<string, AddrPool>();
  /** The backend's CLIENT ID of each connection that has asked for it (blocking.ts). */
  readonly clientIds = new WeakMap<BackendConn, number>();

  constructor(private opts: () => BackendOptions, private max: () => number) {}

  /** A connection to addr for (db, resp3), or null when addr's bound is reached. */
  acquire(addr: string, db: number, resp3: boolean): BackendConn | null {
    let p = this.pools.get(addr);
    if (p === undefined) {
      p = new AddrPool();
      this.pools.set(addr, p);
    }
    for (let i = p.idle.length - 1; i >= 0; i--) {
      const c = p.idle[i]!;
      if (c.db === db && c.resp3 === resp3 && c.state <= ConnState.Ready) {
        p.idle.splice(i, 1);
        p.inUse++;
        return c;
      }
    }
    if (p.inUse + p.idle.length >= this.max()) {
      // Make room by closing an idle connection of another database or protocol.
      const victim = p.idle.shift();
      if (victim === undefined) return null;
      victim.close();
    }
    p.inUse++;
    return new BackendConn(addr, db, resp3, this.opts());
  }

  /**
   * Gives a connection back. healthy: nothing is pending on it and its backend-side state is
   * clean (no MULTI, no WATCH, not blocked); otherwise it is closed.
   */
  release(c: BackendConn, healthy: boolean): void {
    const p = this.pools.get(c.addr);
    if (p === undefined) {
      c.close();
      return;
    }
    p.inUse--;
    if (healthy && c.pending === 0 && c.state <= ConnState.Ready && p.idle.length < IDLE_KEEP) p.idle.push(c);
    else c.close();
  }

  /** Connections in use (for stats and tests). */
  get inUse(): number {
    let n = 0;
    for (const p of this.pools.values()) n += p.inUse;
    return n;
  }

  forEachIdle(fn: (c: BackendConn) => void): void {
    for (const p of this.pools.values()) for (const c of p.idle) fn(c);
  }
}
