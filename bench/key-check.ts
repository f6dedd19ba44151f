// What the key check costs per request, in process, interleaved: the command decision of a
// session before this change (lookup, slot of argv[1]) against now (lookup, arity, key mode,
// slot), for a single-key GET (which must not pay for the check) and for multi-key commands
// (which now walk their key specs).
//   npm run build && node dist/bench/key-check.js
import { lookupCommand, KeyMode } from "../src/core/command-table.js";
import { keysSlot } from "../src/core/key-check.js";
import { slotOf } from "../src/core/slot.js";
import { RequestScanner, ScanStatus } from "../src/core/resp-scanner.js";
import { encodeCommand } from "../src/core/resp-encoder.js";

function scanned(args: string[]): { buf: Buffer; offs: Int32Array; argc: number } {
  const buf = encodeCommand(args);
  const sc = new RequestScanner();
  if (sc.scan(buf, 0, buf.length) !== ScanStatus.Complete) throw new Error("scan");
  return { buf, offs: sc.offsets.slice(), argc: sc.argc };
}

const cases = {
  "GET key": scanned(["GET", "user:1000:profile"]),
  "RENAME {t}a {t}b": scanned(["RENAME", "{t}a", "{t}b"]),
  "MSETNX 10 pairs": scanned(["MSETNX", ...Array.from({ length: 10 }, (_, i) => [`{t}k${i}`, "v"]).flat()]),
  "EVAL 3 keys": scanned(["EVAL", "return 1", "3", "{t}a", "{t}b", "{t}c", "arg"]),
};

let sink = 0;

/** Before: lookup, then the slot of argv[routeIndex]. */
function before(buf: Buffer, a: Int32Array, argc: number): number {
  const cmd = lookupCommand(buf, a[0]!, a[1]!)!;
  const ri = cmd.routeIndex >= 0 ? cmd.routeIndex : 1;
  return ri < argc ? slotOf(buf, a[2 * ri]!, a[2 * ri + 1]!) : 0;
}

/** Now: lookup, arity, then one fixed key or the key check. */
function now(buf: Buffer, a: Int32Array, argc: number): number {
  const cmd = lookupCommand(buf, a[0]!, a[1]!)!;
  if (argc < cmd.minArgs || argc > cmd.maxArgs) return -9;
  if (cmd.keyMode === KeyMode.Single) {
    const ri = cmd.routeIndex;
    return ri < argc ? slotOf(buf, a[2 * ri]!, a[2 * ri + 1]!) : -2;
  }
  return keysSlot(cmd, buf, a, argc);
}

function time(fn: typeof now, c: { buf: Buffer; offs: Int32Array; argc: number }, n: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink += fn(c.buf, c.offs, c.argc);
  return Number(process.hrtime.bigint() - t0) / n;
}

const N = 2_000_000;
const ROUNDS = 7;
for (const [name, c] of Object.entries(cases)) {
  const b: number[] = [];
  const w: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    b.push(time(before, c, N));
    w.push(time(now, c, N));
  }
  b.sort((x, y) => x - y);
  w.sort((x, y) => x - y);
  const mb = b[ROUNDS >> 1]!;
  const mw = w[ROUNDS >> 1]!;
  console.log(`${name.padEnd(18)} before ${mb.toFixed(1)} ns  now ${mw.toFixed(1)} ns  ratio ${(mw / mb).toFixed(2)}`);
}
if (sink === 42) console.log("");
