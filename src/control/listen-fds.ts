// The client port's listening socket, and one descriptor of it per worker thread.
//
// Every worker accepts from the same socket, and Node 20 has neither reusePort nor dup(). A
// descriptor belongs to the thread that listens on it: when a worker exits, its handles are
// closed, and with one shared descriptor that close would end accepting for every worker (and
// the number could be reused for another file while the others still poll it). So each worker
// gets its own descriptor of the one socket, and a worker that dies closes only its own.
//
// Descriptors are duplicated the only way Node offers: passed over an IPC channel (SCM_RIGHTS),
// which gives the receiver a new descriptor. A short-lived helper process binds the socket
// (without listening, so it never accepts a connection), sends it here, and echoes it back as
// many times as descriptors are needed. This thread keeps the first one, never listening on it,
// for as long as the proxy runs, so a restarted worker can always get a fresh copy.
import { spawn } from "node:child_process";
import { lookup } from "node:dns/promises";
import net from "node:net";
import type { ListenSpec } from "../workers/messages.js";

/** A raw libuv handle as child_process hands it over ("net.Native"). */
interface RawHandle {
  fd: number;
  close(cb?: () => void): void;
}

// The helper: binds with the raw TCP/Pipe wrappers (bind without listen), and sends back every
// handle it is sent. It exits when its parent disconnects.
const HELPER = `
"use strict";
process.on("disconnect", () => process.exit(0));
process.on("message", (m, handle) => {
  try {
    if (m.op === "bind") {
      let h, err;
      if (m.path !== undefined) {
        const { Pipe, constants } = process.binding("pipe_wrap");
        h = new Pipe(constants.SERVER);
        err = h.bind(m.path);
      } else {
        const { TCP, constants } = process.binding("tcp_wrap");
        h = new TCP(constants.SERVER);
        err = m.family === 6 ? h.bind6(m.host, m.port, m.ipv6Only ? 1 : 0) : h.bind(m.host, m.port);
      }
      if (err) process.send({ err: require("node:util").getSystemErrorName(err) });
      else process.send({ ok: true }, h);
    } else if (m.op === "echo") {
      process.send({ ok: true }, handle);
    }
  } catch (e) {
    process.send({ err: String(e && e.message || e) });
  }
});
`;

class Helper {
  private readonly child = spawn(process.execPath, ["-e", HELPER], { stdio: ["ignore", "ignore", "pipe", "ipc"] });
  private stderr = "";

  constructor() {
    this.child.stderr!.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-2000);
    });
  }

  /** Sends one request and waits for its answer (requests go one at a time). */
  ask(msg: object, handle?: RawHandle): Promise<RawHandle> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: { ok?: boolean; err?: string }, h: RawHandle | undefined) => {
        cleanup();
        if (m.err !== undefined || h === undefined) reject(new Error(m.err ?? "no descriptor came back"));
        else resolve(h);
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`descriptor helper exited with ${code}${this.stderr ? `: ${this.stderr.trim()}` : ""}`));
      };
      const cleanup = () => {
        this.child.off("message", onMessage);
        this.child.off("exit", onExit);
      };
      this.child.on("message", onMessage);
      this.child.on("exit", onExit);
      this.child.send(msg, handle as unknown as net.Server | undefined);
    });
  }

  close(): void {
    if (this.child.connected) this.child.disconnect();
  }
}

export class ListenSocket {
  /** Handles whose descriptors were given to workers: kept so they are never closed here. */
  private readonly given: RawHandle[] = [];

  private constructor(private readonly original: RawHandle) {}

  /** Binds the client address (not listening yet: workers listen on their descriptors). */
  static async bind(spec: ListenSpec): Promise<ListenSocket> {
    let msg: object;
    if (spec.path !== undefined) {
      msg = { op: "bind", path: spec.path };
    } else {
      const host = spec.host ?? "0.0.0.0";
      const ip = net.isIP(host) ? { address: host, family: net.isIP(host) } : await lookup(host);
      msg = { op: "bind", host: ip.address, family: ip.family, port: spec.port ?? 0, ipv6Only: spec.ipv6Only === true };
    }
    const helper = new Helper();
    try {
      return new ListenSocket(await helper.ask(msg));
    } catch (e) {
      const where = spec.path ?? `${spec.host}:${spec.port}`;
      throw new Error(`listen ${where}: ${(e as Error).message}`);
    } finally {
      helper.close();
    }
  }

  /**
   * n new descriptors of the socket, one per worker. The worker that listens on one owns it;
   * this thread keeps its handle object only so that nothing here ever closes it.
   */
  async descriptors(n: number): Promise<number[]> {
    const helper = new Helper();
    try {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const h = await helper.ask({ op: "echo" }, this.original);
        this.given.push(h);
        out.push(h.fd);
      }
      return out;
    } finally {
      helper.close();
    }
  }

  /** Closes this thread's descriptor (the workers' own close when they stop). */
  close(): void {
    this.original.close();
  }
}
