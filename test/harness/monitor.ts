// Records what a real redis-server executes, with MONITOR, for tests that prove which
// commands reached which backend.
import { RawClient } from "./resp-client.js";

export interface Monitored {
  /** Each executed command's arguments (the server's own quoting undone). */
  commands(): Buffer[][];
  stop(): void;
}

/** Starts MONITOR on a server and returns the commands it has seen so far on demand. */
export async function monitor(port: number, password?: string): Promise<Monitored> {
  const c = await RawClient.connect(port);
  if (password !== undefined) await c.call("AUTH", password);
  const ok = await c.call("MONITOR");
  if (ok !== "+OK\r\n") throw new Error(`MONITOR: ${ok}`);
  const seen: Buffer[][] = [];
  const drain = (): void => {
    for (const f of c.takeFrames()) {
      const line = f.toString("latin1");
      if (line[0] !== "+") continue;
      seen.push(parseMonitorLine(line.slice(1, -2)));
    }
  };
  return {
    commands: () => {
      drain();
      return seen;
    },
    stop: () => c.close(),
  };
}

/** `1700000000.123 [0 127.0.0.1:5555] "SET" "a\x00" "b"` → [SET, a\0, b]. */
export function parseMonitorLine(line: string): Buffer[] {
  const out: Buffer[] = [];
  let i = line.indexOf("] ");
  if (i < 0) return out;
  i += 2;
  while (i < line.length) {
    if (line[i] !== '"') {
      i++;
      continue;
    }
    i++;
    const bytes: number[] = [];
    while (i < line.length && line[i] !== '"') {
      const ch = line[i]!;
      if (ch === "\\") {
        const n = line[i + 1]!;
        if (n === "x") {
          bytes.push(parseInt(line.slice(i + 2, i + 4), 16));
          i += 4;
          continue;
        }
        const map: Record<string, number> = { n: 10, r: 13, t: 9, b: 8, a: 7, '"': 34, "\\": 92 };
        bytes.push(map[n] ?? n.charCodeAt(0));
        i += 2;
        continue;
      }
      bytes.push(ch.charCodeAt(0));
      i++;
    }
    out.push(Buffer.from(bytes));
    i++;
  }
  return out;
}
