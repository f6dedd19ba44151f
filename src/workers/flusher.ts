// Batched writes, the policy that makes a proxy fast: nothing is written when a request or
// reply is produced. Producers mark their connection dirty; once per event-loop turn (in the
// check phase, after every socket that was readable this turn has been read) each dirty
// connection writes everything it gathered in one write. One backend write thus carries
// the requests of every client that spoke this turn, and one client write carries every
// reply that completed this turn.
//
// Backend connections flush before client sessions, so requests leave as early as possible.
//
// The exception is a write nothing could share: a reply to a session's only request in flight,
// and a backend connection's only request while a single session has requests in flight
// (busySessions). Those are written at once (session.ts, backend-conn.ts), which saves the
// pass through the check phase that dominates a request's cost at one client.

export interface Flushable {
  /** Set while queued for the next flush, so a connection is queued once per turn. */
  dirty: boolean;
  flush(): void;
}

class Flusher {
  /**
   * Client sessions of this thread with requests in flight. With one, nothing can share a
   * backend write, so a backend connection writes its only request at once (backend-conn.ts);
   * with more, requests are gathered for one write per turn.
   */
  busySessions = 0;
  private conns: Flushable[] = [];
  private sessions: Flushable[] = [];
  private scheduled = false;
  private readonly run = (): void => this.flushAll();

  /** Queues a backend connection for this turn's flush. */
  conn(c: Flushable): void {
    if (c.dirty) return;
    c.dirty = true;
    this.conns.push(c);
    this.schedule();
  }

  /** Queues a client session for this turn's flush. */
  session(s: Flushable): void {
    if (s.dirty) return;
    s.dirty = true;
    this.sessions.push(s);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.run);
  }

  private flushAll(): void {
    this.scheduled = false;
    // Flushing a backend may complete requests synchronously (a connection that is down
    // fails them at once), which dirties sessions: drain until both lists stay empty.
    while (this.conns.length > 0 || this.sessions.length > 0) {
      const conns = this.conns;
      this.conns = [];
      for (let i = 0; i < conns.length; i++) {
        const c = conns[i]!;
        c.dirty = false;
        c.flush();
      }
      const sessions = this.sessions;
      this.sessions = [];
      for (let i = 0; i < sessions.length; i++) {
        const s = sessions[i]!;
        s.dirty = false;
        s.flush();
      }
    }
  }
}

/** The flusher of this thread. */
export const flusher = new Flusher();
