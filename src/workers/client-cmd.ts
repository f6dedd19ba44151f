// CLIENT subcommands answered by the proxy about its own client connections (the backends'
// CLIENT would describe the proxy's pooled connections, not the client).
//   ID, GETNAME, SETNAME, SETINFO, INFO   about this connection
//   LIST [TYPE t] [ID id ...]            the clients of the worker thread serving this one
// Everything else (KILL, PAUSE, TRACKING, REPLY, ...) is refused.

import { encodeValue, OK, NULL_BULK, NULL_RESP3 } from "../core/resp-encoder.js";
import * as E from "../core/errors.js";
import type { Session } from "./session.js";
import type { WorkerContext } from "./context.js";

/** The reply bytes, or an error text. */
export function clientCommand(s: Session, ctx: WorkerContext, argv: Buffer[]): Buffer | string {
  const sub = argv[1]!.toString("latin1").toUpperCase();
  switch (sub) {
    case "ID":
      return encodeValue(s.id, s.resp3);
    case "GETNAME":
      return s.name === "" ? (s.resp3 ? NULL_RESP3 : NULL_BULK) : encodeValue(s.name, s.resp3);
    case "SETNAME": {
      const name = argv[2]!.toString("latin1");
      // Redis allows printable ASCII without spaces ('!' to '~').
      if (!/^[\x21-\x7e]*$/.test(name)) return E.BAD_CLIENT_NAME;
      s.name = name;
      return OK;
    }
    case "SETINFO": {
      // Redis 7.2; clients send it on connect and ignore errors, but an OK is tidier.
      if (argv.length !== 4) return E.wrongArgs("client|setinfo");
      const attr = argv[2]!.toString("latin1").toUpperCase();
      const value = argv[3]!.toString("latin1");
      if (/[\s]/.test(value)) return `ERR ${attr.toLowerCase()} cannot contain spaces, newlines or special characters.`;
      if (attr === "LIB-NAME") s.libName = value;
      else if (attr === "LIB-VER") s.libVer = value;
      else return `ERR Unrecognized option '${argv[2]!.toString("latin1")}'`;
      return OK;
    }
    case "INFO":
      return encodeValue(infoLine(s) + "\n", s.resp3);
    case "LIST": {
      let type = "";
      const ids = new Set<number>();
      for (let i = 2; i < argv.length; i++) {
        const opt = argv[i]!.toString("latin1").toUpperCase();
        if (opt === "TYPE" && i + 1 < argv.length) {
          type = argv[++i]!.toString("latin1").toLowerCase();
          if (!["normal", "pubsub", "master", "replica", "slave"].includes(type)) {
            return `ERR Unknown client type '${argv[i]!.toString("latin1")}'`;
          }
        } else if (opt === "ID" && i + 1 < argv.length) {
          while (i + 1 < argv.length) {
            const v = Number(argv[++i]!.toString("latin1"));
            if (!Number.isInteger(v) || v <= 0) return "ERR Invalid client ID";
            ids.add(v);
          }
        } else {
          return "ERR syntax error";
        }
      }
      const lines: string[] = [];
      for (const other of ctx.sessions()) {
        if (ids.size > 0 && !ids.has(other.id)) continue;
        const pubsub = other.subs !== null && other.subs.total > 0;
        if (type === "pubsub" && !pubsub) continue;
        if (type === "normal" && pubsub) continue;
        if (type === "master" || type === "replica" || type === "slave") continue;
        lines.push(infoLine(other) + "\n");
      }
      return encodeValue(lines.join(""), s.resp3);
    }
    default:
      return E.notAllowed(`CLIENT ${sub}`);
  }
}

/** One CLIENT INFO / CLIENT LIST line (the fields a proxy knows, in Redis's order). */
function infoLine(s: Session): string {
  const now = Date.now();
  const sock = s.socket;
  const addr = sock.remoteFamily === "IPv6" ? `[${sock.remoteAddress}]:${sock.remotePort}` : `${sock.remoteAddress}:${sock.remotePort}`;
  const laddr = sock.localFamily === "IPv6" ? `[${sock.localAddress}]:${sock.localPort}` : `${sock.localAddress}:${sock.localPort}`;
  const subs = s.subs;
  const flags = (subs !== null && subs.total > 0 ? "P" : "") + (s.tx !== null && s.tx.inMulti ? "x" : "") || "N";
  return [
    `id=${s.id}`, `addr=${addr}`, `laddr=${laddr}`, `name=${s.name}`,
    `age=${Math.floor((now - s.createdAt) / 1000)}`,
    `idle=${Math.floor((performance.now() - s.lastActive) / 1000)}`,
    `flags=${flags}`, `db=${s.db}`,
    `sub=${subs?.names[0]!.size ?? 0}`, `psub=${subs?.names[1]!.size ?? 0}`, `ssub=${subs?.names[2]!.size ?? 0}`,
    `multi=${s.tx !== null && s.tx.inMulti ? 0 : -1}`, `qbuf=0`, `oll=${s.pending}`,
    `omem=${sock.writableLength}`, `user=default`, `lib-name=${s.libName}`, `lib-ver=${s.libVer}`,
    `resp=${s.resp3 ? 3 : 2}`,
  ].join(" ");
}
