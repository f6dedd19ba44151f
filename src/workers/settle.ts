// Settling the keys of a request in a migrating slot before it runs on a connection of its
// own (a blocked command, a transaction): each key goes through the router's migration path
// as "EXISTS key", which moves it from the source to the target (forward/sync.ts,
// forward/redis.ts), so the exclusive connection to the target sees every key. This is the
// rare path (migrating slots only) and may allocate.

import { Admit, Req, type ReplyOwner } from "./request.js";
import type { Router } from "./router.js";
import { commandByName, keyIndexesOf, type CommandInfo } from "../core/command-table.js";
import { KeyList } from "../core/key-specs.js";
import { encodeCommand } from "../core/resp-encoder.js";
import { RequestScanner } from "../core/resp-scanner.js";

const EXISTS = commandByName("EXISTS")!;
const scanner = new RequestScanner();

/** Called once every key has been settled; error is the first failure's reply text, or null. */
export type Settled = (error: Buffer | null) => void;

class SettleGroup implements ReplyOwner {
  left = 0;
  error: Buffer | null = null;
  cancelled = false;
  constructor(readonly done: Settled) {}

  alive(): boolean {
    return !this.cancelled;
  }

  // An EXISTS reply is an integer: taken at once, nothing parks on it.
  admit(): Admit {
    return this.cancelled ? Admit.Discard : Admit.Take;
  }
  sink(): null {
    return null;
  }

  onReply(r: Req): void {
    if (r.isError && this.error === null) this.error = Buffer.from(r.reply!.subarray(r.replyStart, r.replyEnd));
    if (--this.left === 0 && !this.cancelled) this.done(this.error);
  }
}

/** A handle to stop waiting for a settle (the client left). */
export interface SettleHandle {
  cancel(): void;
}

/**
 * Moves every key that cmd names (args are offsets into buf) to the migrating slot's target;
 * calls done when all have answered. A command without keys settles at once.
 */
export function settleKeys(router: Router, slot: number, cmd: CommandInfo, buf: Uint8Array, args: Int32Array,
  argc: number, db: number, done: Settled): SettleHandle {
  const keys = new KeyList();
  keyIndexesOf(cmd, buf, args, argc, keys);
  const group = new SettleGroup(done);
  const handle = { cancel: () => { group.cancelled = true; } };
  if (keys.n === 0) {
    done(null);
    return handle;
  }
  group.left = keys.n;
  for (let k = 0; k < keys.n; k++) {
    const i = keys.idx[k]!;
    const bytes = encodeCommand([EXISTS.nameBytes, buf.subarray(args[2 * i], args[2 * i + 1])]);
    const r = new Req();
    r.cmd = EXISTS;
    r.db = db;
    r.owner = group;
    scanner.reset();
    scanner.scan(bytes, 0, bytes.length);
    router.dispatch(r, slot, bytes, 0, bytes.length, scanner.offsets, scanner.argc);
  }
  return handle;
}
