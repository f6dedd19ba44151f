// Which keys a migrating slot's request moves before it runs (src/workers/forward/forward.ts,
// commandKeys): every key of the slot the command names, each once, including the STORE
// destinations the key specs leave out, and never a key of another slot.
import { describe, expect, it } from "vitest";
import { commandKeys } from "../../src/workers/forward/forward.js";
import { Req } from "../../src/workers/request.js";
import { RequestScanner } from "../../src/core/resp-scanner.js";
import { encodeCommand } from "../../src/core/resp-encoder.js";
import { UNKNOWN_COMMAND, commandByName } from "../../src/core/command-table.js";
import { slotOfKey } from "../../src/core/slot.js";

/** A kept request as the router holds it on the migration path. */
function kept(...argv: (string | number)[]): Req {
  const buf = encodeCommand(argv);
  const sc = new RequestScanner();
  sc.scan(buf, 0, buf.length);
  const r = new Req();
  r.cmd = commandByName(String(argv[0])) ?? UNKNOWN_COMMAND;
  r.buf = buf;
  r.start = 0;
  r.end = buf.length;
  r.argc = sc.argc;
  r.args = sc.offsets.slice(0, sc.argc * 2);
  return r;
}

/** The key names commandKeys picks for the slot of `slotKey`. */
function keys(slotKey: string, ...argv: (string | number)[]): string[] {
  const r = kept(...argv);
  return commandKeys(r, slotOfKey(slotKey)).map((i) => String(argv[i]));
}

describe("commandKeys", () => {
  it("lists every key of a command, not only its routing key", () => {
    expect(keys("{t}", "RPOPLPUSH", "{t}:q", "{t}:d")).toEqual(["{t}:q", "{t}:d"]);
    expect(keys("{t}", "SUNIONSTORE", "{t}:u", "{t}:a", "{t}:b")).toEqual(["{t}:u", "{t}:a", "{t}:b"]);
    expect(keys("{t}", "SMOVE", "{t}:a", "{t}:b", "member")).toEqual(["{t}:a", "{t}:b"]);
    expect(keys("{t}", "ZUNIONSTORE", "{t}:d", 2, "{t}:a", "{t}:b", "WEIGHTS", 1, 2)).toEqual(["{t}:d", "{t}:a", "{t}:b"]);
    expect(keys("{t}", "GET", "{t}:x")).toEqual(["{t}:x"]);
  });

  it("reads EVAL/EVALSHA/FCALL numkeys: arguments after the keys are not keys", () => {
    expect(keys("{t}", "EVAL", "return 1", 2, "{t}:a", "{t}:b", "{t}:not-a-key")).toEqual(["{t}:a", "{t}:b"]);
    expect(keys("{t}", "EVALSHA", "0123", 1, "{t}:a", "{t}:arg")).toEqual(["{t}:a"]);
    expect(keys("{t}", "FCALL", "f", 0, "{t}:arg")).toEqual([]);
  });

  it("names a key once, however often the command repeats it", () => {
    expect(keys("{t}", "RPOPLPUSH", "{t}:l", "{t}:l")).toEqual(["{t}:l"]);
    expect(keys("{t}", "SINTERSTORE", "{t}:a", "{t}:a", "{t}:b", "{t}:a")).toEqual(["{t}:a", "{t}:b"]);
  });

  it("adds the destination of SORT ... STORE and GEORADIUS[BYMEMBER] ... STORE|STOREDIST", () => {
    expect(keys("{t}", "SORT", "{t}:l", "STORE", "{t}:d")).toEqual(["{t}:l", "{t}:d"]);
    expect(keys("{t}", "sort", "{t}:l", "BY", "nosort", "LIMIT", 0, 10, "GET", "#", "ALPHA", "store", "{t}:d")).toEqual(["{t}:l", "{t}:d"]);
    // Option arguments are skipped as Redis reads them: here "STORE" is a GET pattern.
    expect(keys("{t}", "SORT", "{t}:l", "GET", "STORE", "{t}:d")).toEqual(["{t}:l"]);
    expect(keys("{t}", "SORT", "{t}:l", "STORE", "{t}:d1", "STORE", "{t}:d2")).toEqual(["{t}:l", "{t}:d2"]);
    expect(keys("{t}", "GEORADIUS", "{t}:g", 15, 37, 200, "km", "COUNT", 3, "STOREDIST", "{t}:d")).toEqual(["{t}:g", "{t}:d"]);
    expect(keys("{t}", "GEORADIUSBYMEMBER", "{t}:g", "STORE", 200, "km", "STORE", "{t}:d")).toEqual(["{t}:g", "{t}:d"]);
    expect(keys("{t}", "GEORADIUS", "{t}:g", 15, 37, 200, "km", "WITHDIST")).toEqual(["{t}:g"]);
  });

  it("never lists a key of another slot (codis-compatible first-key routing may let one through)", () => {
    const [a, b] = ["{a}", "{b}"];
    expect(slotOfKey(a)).not.toBe(slotOfKey(b));
    expect(keys(a, "SMOVE", a, b, "m")).toEqual([a]);
    expect(keys(b, "SMOVE", a, b, "m")).toEqual([b]);
    expect(keys(a, "EVAL", "return 1", 3, b, a, b)).toEqual([a]);
  });
});
