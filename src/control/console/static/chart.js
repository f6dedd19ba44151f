// A small time-series line chart in SVG: one line per series over the last `windowSecs`
// seconds, y from 0 to a rounded maximum. Enough for ops/s and errors/s per proxy.

const NS = "http://www.w3.org/2000/svg";
const W = 360;
const H = 120;
const PAD = { l: 44, r: 8, t: 8, b: 18 };

function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** 1, 2 or 5 × 10^n at or above v (at least 1). */
export function niceMax(v) {
  if (!(v > 1)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function short(v) {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(1)}`;
}

/** series: [{name, color, points: [{t (unix s), v}]}]; redraws svg whole (a few hundred nodes at most). */
export function drawChart(svg, series, { now = Date.now() / 1000, windowSecs = 180 } = {}) {
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const t0 = now - windowSecs;
  let max = 0;
  for (const s of series) for (const p of s.points) if (p.t >= t0 && p.v > max) max = p.v;
  const top = niceMax(max);
  const x = (t) => PAD.l + ((t - t0) / windowSecs) * (W - PAD.l - PAD.r);
  const y = (v) => H - PAD.b - (v / top) * (H - PAD.t - PAD.b);
  const nodes = [];
  for (const f of [0, 0.5, 1]) {
    const yy = y(top * f);
    nodes.push(el("line", { x1: PAD.l, x2: W - PAD.r, y1: yy, y2: yy, class: "grid" }));
    nodes.push(el("text", { x: PAD.l - 4, y: yy + 3, "text-anchor": "end", class: "axis" }, short(top * f)));
  }
  nodes.push(el("text", { x: PAD.l, y: H - 4, class: "axis" }, `−${Math.round(windowSecs / 60)} min`));
  nodes.push(el("text", { x: W - PAD.r, y: H - 4, "text-anchor": "end", class: "axis" }, "now"));
  for (const s of series) {
    const pts = s.points.filter((p) => p.t >= t0);
    if (pts.length === 0) continue;
    const d = pts.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
    const line = el("polyline", { points: pts.length === 1 ? `${d} ${d}` : d, fill: "none", stroke: s.color, "stroke-width": 1.8 });
    line.append(el("title", {}, s.name));
    nodes.push(line);
  }
  svg.replaceChildren(...nodes);
}
