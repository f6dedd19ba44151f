// What the console shows, derived from the dashboard's overview and stats (codis JSON shapes,
// plus slotway's additions when present). Pure functions: no DOM, so they are unit-tested.

export const MAX_SLOTS = 1024;
export const ACTION_STATES = ["pending", "preparing", "prepared", "migrating", "finished"];

// ---- numbers and text -------------------------------------------------------------------

export function fmtInt(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "—";
}

export function fmtBytes(n) {
  if (!Number.isFinite(n)) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** Seconds as "42 s", "3 min 04 s", "2 h 05 min". */
export function fmtDuration(secs) {
  if (!Number.isFinite(secs) || secs < 0) return "—";
  const s = Math.round(secs);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

export function fmtRate(n, unit) {
  if (!Number.isFinite(n)) return "—";
  return `${n >= 100 ? fmtInt(n) : n.toFixed(1)} ${unit}/s`;
}

/** A decimal integer from a form field, or undefined. */
export function parseIntField(text) {
  const t = String(text ?? "").trim();
  if (!/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Checks a slot range from form text; returns {beg, end} or throws with a reason. */
export function parseRange(begText, endText) {
  const beg = parseIntField(begText);
  const end = parseIntField(endText);
  if (beg === undefined || end === undefined) throw new Error("begin and end must be slot numbers");
  if (beg > end) throw new Error(`begin ${beg} is after end ${end}`);
  if (end >= MAX_SLOTS) throw new Error(`slots go from 0 to ${MAX_SLOTS - 1}`);
  return { beg, end };
}

/** The slots/assign body codis-admin sends for --slots-assign --beg --end --gid. */
export function assignBody(beg, end, gid) {
  const out = [];
  for (let sid = beg; sid <= end; sid++) out.push({ id: sid, group_id: gid, action: {} });
  return out;
}

// ---- colours ------------------------------------------------------------------------------

// Tableau 10: distinct hues that stay apart for most colour vision.
const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#86bcb6"];
export const OFFLINE_COLOR = "#d9dde3";

export function groupColor(gid) {
  if (!gid) return OFFLINE_COLOR;
  if (gid <= PALETTE.length) return PALETTE[gid - 1];
  // Past the palette: spread hues by the golden angle so neighbours differ.
  return `hsl(${Math.round((gid * 137.508) % 360)} 55% 55%)`;
}

// ---- slots --------------------------------------------------------------------------------

/** Contiguous runs of slots that share group, action state and target. */
export function slotRuns(slots) {
  const runs = [];
  for (const m of slots ?? []) {
    const state = m.action?.state ?? "";
    const target = state ? m.action?.target_id ?? 0 : 0;
    const last = runs.at(-1);
    if (last && last.end === m.id - 1 && last.group === m.group_id && last.state === state && last.target === target) {
      last.end = m.id;
    } else {
      runs.push({ beg: m.id, end: m.id, group: m.group_id, state, target });
    }
  }
  return runs;
}

/** How many slots are in each action state (and with none: "idle"; offline: group 0 without action). */
export function stateCounts(slots) {
  const c = { idle: 0, offline: 0, pending: 0, preparing: 0, prepared: 0, migrating: 0, finished: 0 };
  for (const m of slots ?? []) {
    const s = m.action?.state ?? "";
    if (s === "") {
      c.idle++;
      if (!m.group_id) c.offline++;
    } else if (s in c) {
      c[s]++;
    }
  }
  return c;
}

/** Slots per group (the group they belong to now; an action's target counts once it is done). */
export function slotsPerGroup(slots) {
  const out = new Map();
  for (const m of slots ?? []) if (m.group_id) out.set(m.group_id, (out.get(m.group_id) ?? 0) + 1);
  return out;
}

/** A rebalance plan ({"<sid>": gid}) as merged ranges, as codis-admin prints it. */
export function planRanges(plan) {
  const sids = Object.keys(plan ?? {}).map(Number).filter(Number.isInteger).sort((a, b) => a - b);
  const out = [];
  for (const sid of sids) {
    const gid = plan[String(sid)];
    const last = out.at(-1);
    if (last && last.end === sid - 1 && last.gid === gid) last.end = sid;
    else out.push({ beg: sid, end: sid, gid });
  }
  return out;
}

// ---- migration progress ----------------------------------------------------------------

/**
 * The migration panel's figures. slotway's dashboard adds counters to slot_action.progress
 * (slots_done, keys_moved, rates, eta_secs); with a codis dashboard only the slot states and
 * the status line are known, and the rest shows as unknown (hasCounters false).
 */
export function progressView(stats) {
  const sa = stats?.slot_action ?? {};
  const p = sa.progress ?? {};
  const counts = stateCounts(stats?.slots);
  const left = ACTION_STATES.reduce((n, s) => n + counts[s], 0);
  const hasCounters = typeof p.keys_moved === "number";
  const done = hasCounters ? p.slots_done : undefined;
  const running = hasCounters ? Boolean(p.running) || left > 0 : left > 0;
  return {
    running,
    slotsLeft: left,
    counts,
    hasCounters,
    slotsDone: done,
    keysMoved: hasCounters ? p.keys_moved : undefined,
    keysPerSec: hasCounters ? p.keys_per_sec : undefined,
    slotsPerSec: hasCounters ? p.slots_per_sec : undefined,
    etaSecs: hasCounters && p.eta_secs >= 0 ? p.eta_secs : undefined,
    runSecs: hasCounters ? p.run_secs : undefined,
    // Share of this run's slots that are done; unknown without counters.
    fraction: hasCounters && done + left > 0 ? done / (done + left) : left === 0 ? 1 : undefined,
    status: typeof p.status === "string" ? p.status : "",
    error: typeof sa.error === "string" ? sa.error : "",
    // Slots the dashboard gave up moving, with why (slotway, when a backend cannot take them).
    stopped: sa.stopped && typeof sa.stopped === "object" ? Object.entries(sa.stopped).map(([sid, why]) => ({ sid: Number(sid), why: String(why) })) : [],
    interval: sa.interval ?? 0,
    disabled: Boolean(sa.disabled),
  };
}

// ---- groups and servers -----------------------------------------------------------------

/** Total keys from INFO's db<N> lines ("keys=12,expires=0,avg_ttl=0"). */
export function keysOf(info) {
  let n = 0;
  for (const [k, v] of Object.entries(info ?? {})) {
    if (!/^db\d+$/.test(k)) continue;
    const m = /(?:^|,)keys=(\d+)/.exec(String(v));
    if (m) n += Number(m[1]);
  }
  return n;
}

/**
 * Backend kind and version. The dashboard's own detection wins when its stats carry it
 * (stats.backends[addr] = {kind, server, version, ...}: kind redis | codis-server | pika-classic |
 * pika-sharding, server redis | valkey | codis-server | pika); otherwise INFO tells Pika
 * (pika_version), Valkey (server_name / valkey_version) and Redis apart. codis-server looks like
 * Redis in INFO, so only the dashboard can name it.
 */
export function backendOf(rs, reported) {
  if (reported && typeof reported.kind === "string" && reported.kind !== "") {
    const server = typeof reported.server === "string" && reported.server ? reported.server : reported.kind;
    const mode = reported.kind === "pika-classic" ? "classic" : reported.kind === "pika-sharding" ? "sharding" : "";
    const version = typeof reported.version === "string" && reported.version ? reported.version : infoVersion(rs?.stats);
    return { kind: server, version, mode, from: "dashboard", error: typeof reported.error === "string" ? reported.error : "" };
  }
  const info = rs?.stats;
  if (!info) return { kind: "", version: "", mode: "", from: "", error: "" };
  const out = (kind, version) => ({ kind, version: version ?? "", mode: "", from: "info", error: "" });
  if (info.pika_version) return out("pika", info.pika_version);
  if (info.valkey_version || String(info.server_name ?? "").toLowerCase() === "valkey") return out("valkey", info.valkey_version ?? info.redis_version);
  if (info.redis_version) return out("redis", info.redis_version);
  return { kind: "", version: "", mode: "", from: "", error: "" };
}

function infoVersion(info) {
  return info?.pika_version ?? info?.valkey_version ?? info?.redis_version ?? "";
}

/**
 * One server's row. `expected` is what codis-admin --group-status compares with: NO:ONE for
 * the master (index 0), "<master>:up" for a replica; `actual` comes from INFO.
 */
export function serverView(group, index, rs, reported) {
  const s = group.servers[index];
  const info = rs?.stats;
  let health = "pending";
  if (rs?.error) health = "error";
  else if (rs?.timeout) health = "timeout";
  else if (info) health = "ok";
  const masterAddr = info?.master_addr ?? "";
  const actual = info ? (masterAddr ? `${masterAddr}:${info.master_link_status ?? "?"}` : "NO:ONE") : "";
  const expected = index === 0 ? "NO:ONE" : `${group.servers[0].server}:up`;
  const role = info?.role === "master" ? "master" : info?.role === "slave" ? "replica" : index === 0 ? "master" : "replica";
  const used = Number(info?.used_memory);
  const max = Number(info?.maxmemory);
  let replication = "";
  if (info) {
    if (masterAddr) replication = `of ${masterAddr}, link ${info.master_link_status ?? "?"}`;
    else replication = `${info.connected_slaves ?? 0} replica(s)`;
  }
  return {
    addr: s.server,
    index,
    datacenter: s.datacenter ?? "",
    syncState: s.action?.state ?? "",
    replicaGroup: Boolean(s.replica_group),
    health,
    error: rs?.error?.Cause ?? "",
    backend: backendOf(rs, reported),
    role,
    memory: info ? used : undefined,
    maxmemory: info ? max : undefined,
    keys: info ? keysOf(info) : undefined,
    replication,
    actual,
    expected,
    mismatch: health === "ok" && actual !== expected,
  };
}

/** Totals over the masters (servers[0]) of every group, as codis-fe sums them. */
export function clusterTotals(stats) {
  let keys = 0;
  let memory = 0;
  let servers = 0;
  for (const g of stats?.group?.models ?? []) {
    servers += g.servers.length;
    const master = g.servers[0];
    const info = master && stats.group.stats?.[master.server]?.stats;
    if (!info) continue;
    keys += keysOf(info);
    memory += Number(info.used_memory) || 0;
  }
  let qps = 0;
  let online = 0;
  let sessions = 0;
  for (const p of stats?.proxy?.models ?? []) {
    const st = stats.proxy.stats?.[p.token]?.stats;
    if (!st) continue;
    if (st.online) online++;
    qps += st.ops?.qps ?? 0;
    sessions += st.sessions?.alive ?? 0;
  }
  return { keys, memory, servers, qps, online, sessions, groups: stats?.group?.models?.length ?? 0, proxies: stats?.proxy?.models?.length ?? 0 };
}

// ---- proxies over time ------------------------------------------------------------------

/** Label and health of one proxy's stats entry, as codis-fe shows it. */
export function proxyHealth(ps) {
  if (!ps) return "pending";
  if (ps.error) return "error";
  if (ps.timeout || !ps.stats) return "timeout";
  return ps.stats.online ? "online" : "offline";
}

/**
 * Per-proxy ops/s and errors/s over time, one point per stats sample the dashboard took (its
 * unixtime), at most `keep` points per proxy. Errors are the growth of ops.fails plus
 * ops.redis.errors between two samples, per second.
 */
export class ProxyHistory {
  constructor(keep = 180) {
    this.keep = keep;
    /** token → {points: [{t, ops, errs}], last: {t, errTotal}} */
    this.series = new Map();
  }

  add(stats) {
    const seen = new Set();
    for (const p of stats?.proxy?.models ?? []) {
      const ps = stats.proxy.stats?.[p.token];
      const st = ps?.stats;
      seen.add(p.token);
      if (!st || !ps.unixtime) continue;
      let s = this.series.get(p.token);
      if (!s) this.series.set(p.token, (s = { id: p.id, points: [], last: undefined }));
      s.id = p.id;
      const t = ps.unixtime;
      const errTotal = (st.ops?.fails ?? 0) + (st.ops?.redis?.errors ?? 0);
      if (s.last && s.last.t === t) continue;
      let errs = 0;
      if (s.last && t > s.last.t && errTotal >= s.last.errTotal) errs = (errTotal - s.last.errTotal) / (t - s.last.t);
      s.last = { t, errTotal };
      s.points.push({ t, ops: st.ops?.qps ?? 0, errs });
      if (s.points.length > this.keep) s.points.splice(0, s.points.length - this.keep);
    }
    for (const token of [...this.series.keys()]) if (!seen.has(token)) this.series.delete(token);
  }

  /** The latest errors/s of a proxy (0 before two samples). */
  lastErrs(token) {
    return this.series.get(token)?.points.at(-1)?.errs ?? 0;
  }
}
