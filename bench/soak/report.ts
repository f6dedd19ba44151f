// The soak's printed report: anomalies first (with examples), then what was checked, errors by
// text, throughput by phase as ratios, latency, the waves and the dashboard kills.
import { ANOMALY_CATEGORIES } from "./model.js";
import { describeSlots } from "./pins.js";
import type { SoakResult } from "./soak.js";

const f1 = (n: number): string => n.toFixed(1);
const ms = (n: number): string => (n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${Math.round(n)} ms`);

function median(xs: number[]): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function formatReport(r: SoakResult): string {
  const o = r.options;
  const L: string[] = [];
  const total = r.anomalies.total;
  const load = o.slots && o.slots.length < 1024 ? `, keys in ${o.slots.length} slots (${describeSlots(o.slots)})` : "";
  L.push("", `== soak report: ${o.backend}, method ${o.method}, ${o.groups} groups, ${r.waves.length} wave(s) of slots ${o.beg}-${o.end}${load}, ${o.clients} clients, ${f1(r.elapsedS)} s ==`);
  L.push("", `anomalies: ${total === 0 ? "none" : total}`);
  for (const c of ANOMALY_CATEGORIES) {
    L.push(`  ${c.padEnd(12)} ${r.anomalies.count(c)}`);
    for (const [label, n] of [...r.anomalies.byLabel.entries()].filter(([l]) => l.startsWith(`${c}: `)).sort((a, b) => b[1] - a[1])) {
      L.push(`  ${"".padEnd(12)}   ${String(n).padStart(7)}  ${label.slice(c.length + 2)}`);
    }
  }
  for (const c of ANOMALY_CATEGORIES) {
    const ex = r.anomalies.examples.get(c);
    if (!ex?.length) continue;
    L.push(`  ${c}, first ${ex.length}:`);
    for (const e of ex) L.push(`    - ${e}`);
  }

  L.push("", `checked: ${r.totalOps} requests; at the end ${r.finalChecked} reads through both proxies and ${r.placementChecked} keys on every group`);
  L.push("  kind       acked writes  unknown  checked replies  abandoned keys");
  for (const [k, t] of Object.entries(r.tallies).sort()) {
    L.push(`  ${k.padEnd(10)} ${String(t.acked).padStart(12)}  ${String(t.unknown).padStart(7)}  ${String(t.checked).padStart(15)}  ${String(t.abandoned).padStart(14)}`);
  }

  L.push("", `error replies: ${r.errors.total}${r.errors.total ? " (by text)" : ""}`);
  for (const [t, n] of [...r.errors.counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12)) L.push(`  ${String(n).padStart(8)}  ${t}`);

  const phases = ["steady", "moving", "down"].filter((p) => (r.phaseS[p] ?? 0) > 0);
  L.push("", `throughput (ops/s; time in phase: ${phases.map((p) => `${p} ${f1(r.phaseS[p]!)} s`).join(", ")})`);
  L.push(`  class              ${phases.map((p) => p.padStart(9)).join("")}   moving/steady`);
  for (const [cls, c] of Object.entries(r.classes)) {
    L.push(`  ${`${cls} (${c.clients})`.padEnd(18)} ${phases.map((p) => String(Math.round(c.opsPerSec[p] ?? 0)).padStart(9)).join("")}   ${c.ratio.toFixed(2)}`);
  }

  const procs = Object.keys(r.cpu.perSecond);
  if (procs.length) {
    L.push("", "cpu (ms per second of the phase; 1000 = one core)");
    L.push(`  process    ${phases.map((p) => p.padStart(9)).join("")}`);
    for (const name of procs) L.push(`  ${name.padEnd(10)} ${phases.map((p) => String(Math.round(r.cpu.perSecond[name]![p] ?? 0)).padStart(9)).join("")}`);
    L.push(`  ${"interrupts".padEnd(10)} ${phases.map((p) => String(Math.round(r.cpu.softirq[p] ?? 0)).padStart(9)).join("")}   (all the machine's: loopback traffic)`);
    L.push(`  ${"others".padEnd(10)} ${phases.map((p) => String(Math.round(r.cpu.others[p] ?? 0)).padStart(9)).join("")}   (the rest of the machine's busy time)`);
  }

  L.push("", `latency by phase (bound ${o.heldBoundS} s)`);
  for (const l of r.latency) {
    L.push(`  ${l.phase.padEnd(8)} p50 ${ms(l.p50)}, p99 ${ms(l.p99)}, p99.9 ${ms(l.p999)}, max ${ms(l.maxMs)} (${l.maxWhat})`);
  }

  L.push("", "waves");
  for (const w of r.waves) {
    const locked = w.lockedMs.length ? `, locked window (prepared→${r.options.backend === "pika34" ? "finished" : "migrating"} in the store) median ${ms(median(w.lockedMs))} max ${ms(Math.max(...w.lockedMs))}` : "";
    L.push(`  ${w.wave + 1}: → group ${w.target}: ${w.done ? ms(w.ms) : "not finished"}, ${w.done ? `${f1(w.ms / w.slots)} ms/slot` : ""}` +
      `${w.perSlotMs.length ? `, per slot (preparing→done) median ${ms(median(w.perSlotMs))} max ${ms(Math.max(...w.perSlotMs))}` : ""}${locked}`);
  }
  if (r.kills.length) {
    L.push("", "dashboard kills");
    for (const k of r.kills) {
      L.push(`  wave ${k.wave + 1}: wanted "${k.wanted}", at ${k.trigger} (${ms(k.atMs)} into the wave); store then ${JSON.stringify(k.storeStates)}; ` +
        `locked slots per proxy ${k.lockedPerProxy.join("/")}; down ${ms(k.downMs)}; wave done ${ms(k.resumeMs)} after the restart`);
    }
  }
  if (o.keep) L.push("", `logs and store kept in ${r.logDir}`);
  L.push("", total === 0 ? "RESULT: no anomaly" : `RESULT: ${total} anomalies`);
  return L.join("\n");
}
