// `node dist/bench/cpuprofile-top.js FILE...`: the functions with the most self time in V8 CPU
// profiles (node --cpu-prof), as shares of the samples, plus the share per category
// (program/idle/GC/JS by file). Used to write down where a worker's time goes (README).
import { readFileSync } from "node:fs";
import path from "node:path";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  startTime: number;
  endTime: number;
}

for (const file of process.argv.slice(2)) {
  const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const hits = new Map<number, number>();
  for (const s of p.samples) hits.set(s, (hits.get(s) ?? 0) + 1);
  const total = p.samples.length;
  const self = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const [id, n] of hits) {
    const f = byId.get(id)!.callFrame;
    const where = f.url ? `${path.basename(f.url)}:${f.lineNumber + 1}` : "";
    const key = `${f.functionName || "(anonymous)"} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + n);
    const cat = f.url ? (f.url.includes("/dist/src/") ? `slotway ${path.basename(f.url)}` : f.url.startsWith("node:") ? "node:" + f.url.slice(5).split("/")[0] : path.basename(f.url)) : f.functionName;
    byFile.set(cat, (byFile.get(cat) ?? 0) + n);
  }
  const ms = (p.endTime - p.startTime) / 1000;
  console.log(`\n${path.basename(file)}: ${total} samples over ${ms.toFixed(0)} ms`);
  const pct = (n: number) => `${((100 * n) / total).toFixed(1).padStart(5)}%`;
  console.log("  by category:");
  for (const [k, n] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 14)) console.log(`   ${pct(n)}  ${k}`);
  console.log("  top self time:");
  for (const [k, n] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`   ${pct(n)}  ${k}`);
}
