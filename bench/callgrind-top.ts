// `node dist/bench/callgrind-top.js FILE [--map /tmp/perf-PID.map] [--ops N] [--inclusive] [--top N]`:
// callgrind_annotate of one thread's file (bench/profile.ts --callgrind), with V8's JIT code
// named through node's perf map (callgrind shows JIT code as bare addresses) and, given the
// request count of the window (--ops), instructions per request for each function.
// The map defaults to /tmp/perf-<pid>.map of the pid named in the file.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

function main(): void {
  const argv = process.argv.slice(2);
  let file = "";
  let map = "";
  let ops = 0;
  let top = 40;
  let inclusive = false;
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case "--map": map = argv[++i] ?? ""; break;
      case "--ops": ops = Number(argv[++i]); break;
      case "--top": top = Number(argv[++i]); break;
      case "--inclusive": inclusive = true; break;
      default: file = argv[i]!;
    }
  }
  if (!file) throw new Error("usage: callgrind-top FILE [--map MAP] [--ops N] [--inclusive] [--top N]");
  const head = readFileSync(file, "latin1").slice(0, 4096);
  if (!map) {
    const m = /^pid: (\d+)/m.exec(head);
    if (!m) throw new Error("no PID in the callgrind file: give --map");
    map = `/tmp/perf-${m[1]}.map`;
  }
  // perf map lines: "<start hex> <size hex> <name>"
  const ranges: { start: number; end: number; name: string }[] = [];
  for (const line of readFileSync(map, "latin1").split("\n")) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (m) ranges.push({ start: parseInt(m[1]!, 16), end: parseInt(m[1]!, 16) + parseInt(m[2]!, 16), name: m[3]! });
  }
  ranges.sort((a, b) => a.start - b.start);
  const lookup = (addr: number): string | undefined => {
    let lo = 0, hi = ranges.length - 1, found: string | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (ranges[mid]!.start <= addr) {
        if (addr < ranges[mid]!.end) found = ranges[mid]!.name;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
  const out = execFileSync("callgrind_annotate", [...(inclusive ? ["--inclusive=yes"] : []), "--threshold=100", file],
    { encoding: "latin1", maxBuffer: 256 * 1024 * 1024 });
  const totals = /([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS/.exec(out);
  const total = totals ? Number(totals[1]!.replace(/,/g, "")) : 0;
  const rows = new Map<string, number>();
  for (const line of out.split("\n")) {
    const m = /^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$/.exec(line);
    if (!m || m[2]!.includes("PROGRAM TOTALS")) continue;
    const ir = Number(m[1]!.replace(/,/g, ""));
    let name = m[2]!.trim();
    const a = /\?\?\?:0x([0-9a-f]+) \[\?\?\?\]/.exec(name);
    if (a) name = `JIT ${lookup(parseInt(a[1]!, 16)) ?? `0x${a[1]}`}`;
    else name = name.replace(/^\?\?\?:/, "").replace(/ \[\/usr\/bin\/node\]$/, "");
    rows.set(name, (rows.get(name) ?? 0) + ir);
  }
  const sorted = [...rows].sort((a, b) => b[1] - a[1]).slice(0, top);
  console.log(`${file}: ${total.toLocaleString("en-US")} instructions${ops ? `, ${Math.round(total / ops)} per op` : ""}${inclusive ? " (inclusive)" : ""}`);
  for (const [name, ir] of sorted) {
    const pct = total ? ((100 * ir) / total).toFixed(1).padStart(5) : "";
    console.log(`${pct}%  ${ops ? String(Math.round(ir / ops)).padStart(6) + "/op  " : ""}${name.slice(0, 150)}`);
  }
}

main();
