// The console page: polls the dashboard's stats every second and renders the slot map, the
// migration, groups and proxies; the forms and buttons call the dashboard's codis API.
import { ApiClient, loadEnv, loadProducts } from "./api.js";
import { drawChart } from "./chart.js";
import { $, confirmDialog, h, setText, syncChildren, syncRows } from "./dom.js";
import * as M from "./model.js";
import { SlotMap } from "./slotmap.js";

const POLL_MS = 1000;
const ERROR_POLL_MS = 2000;
// The overview also carries config and model, which rarely change: read it now and then.
const OVERVIEW_EVERY = 15;
const MAX_RANGE_ROWS = 64;
const MAX_ACTIVITY = 60;

const st = {
  mode: "dashboard",
  api: new ApiClient("dashboard"),
  overview: undefined,
  stats: undefined,
  polls: 0,
  seq: 0,
  inflight: 0,
  again: false,
  timer: 0,
  history: new M.ProxyHistory(180),
  range: undefined,
  hover: undefined,
};
let slotMap;

boot().catch((e) => showBanner(`The console could not start: ${e.message}`));

async function boot() {
  slotMap = new SlotMap($("#slotmap"), { onHover, onPick });
  slotMap.draw([]);
  wireForms();
  document.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-action]");
    if (b && !b.disabled) void onButton(b);
  });
  const env = await loadEnv();
  st.mode = env.mode === "fe" ? "fe" : "dashboard";
  st.api = new ApiClient(st.mode);
  if (st.mode === "fe") {
    const names = await loadProducts();
    const sel = $("#product");
    sel.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
    $("#product-pick").hidden = false;
    const wanted = decodeURIComponent(location.hash.slice(1));
    const name = names.includes(wanted) ? wanted : names[0] ?? "";
    sel.value = name;
    sel.addEventListener("change", () => {
      location.hash = encodeURIComponent(sel.value);
      switchProduct(sel.value);
    });
    if (name === "") {
      showBanner("No product found: start a dashboard, or check fe's --dashboard-list / coordinator.", "info");
      return;
    }
    st.api.setProduct(name);
  }
  startPolling();
}

function switchProduct(name) {
  st.api.setProduct(name);
  st.overview = undefined;
  st.stats = undefined;
  st.history = new M.ProxyHistory(180);
  startPolling();
}

function startPolling() {
  clearTimeout(st.timer);
  st.polls = 0;
  void poll(++st.seq);
}

/** Polls again as soon as possible (after an action). */
function refreshNow() {
  if (st.inflight === st.seq) {
    st.again = true;
    return;
  }
  clearTimeout(st.timer);
  void poll(st.seq);
}

async function poll(seq) {
  st.inflight = seq;
  let ok = false;
  try {
    if (!st.overview || st.polls % OVERVIEW_EVERY === 0) {
      const o = await st.api.overview();
      if (seq !== st.seq) return;
      st.overview = o;
      if (st.mode === "dashboard") st.api.setProduct(o.model?.product_name ?? o.config?.product_name ?? "");
      renderHeader();
      if (o.stats) applyStats(o.stats);
    } else {
      const s = await st.api.stats();
      if (seq !== st.seq) return;
      applyStats(s);
    }
    ok = true;
    pollOk();
  } catch (e) {
    if (seq === st.seq) pollFailed(e);
  } finally {
    if (st.inflight === seq) st.inflight = 0;
  }
  if (seq !== st.seq) return;
  st.polls++;
  const delay = st.again ? 0 : ok ? POLL_MS : ERROR_POLL_MS;
  st.again = false;
  st.timer = setTimeout(() => void poll(seq), delay);
}

function pollOk() {
  $("#health").className = "dot ok";
  setText($("#updated"), `updated ${clock()}`);
  if ($("#banner").dataset.kind === "poll") hideBanner();
}

function pollFailed(e) {
  $("#health").className = "dot bad";
  setText($("#updated"), `failing since ${$("#banner").dataset.kind === "poll" ? $("#banner").dataset.since : clock()}`);
  showBanner(`Cannot read the dashboard: ${e.message}`, "poll");
}

function applyStats(s) {
  st.stats = s;
  st.history.add(s);
  renderSummary(s);
  renderSlots(s);
  renderMigration(s);
  renderGroups(s);
  renderProxies(s);
}

// ---- rendering ----------------------------------------------------------------------------

function renderHeader() {
  const o = st.overview;
  setText($("#product-name"), o?.model?.product_name ?? o?.config?.product_name ?? "");
  const addr = o?.model?.admin_addr ?? "";
  const coord = o?.config ? ` · ${o.config.coordinator_name} ${o.config.coordinator_addr}` : "";
  setText($("#dash-addr"), `dashboard ${addr}${coord} · ${o?.version ?? ""}`);
  document.title = `${o?.model?.product_name ?? "slotway"} · slotway console`;
  const link = $("#overview-link");
  link.href = st.api.url("/topom");
  link.hidden = false;
}

function renderSummary(s) {
  const t = M.clusterTotals(s);
  const c = M.stateCounts(s.slots);
  setText($("#sum-slots"), `${M.MAX_SLOTS - c.offline} / ${M.MAX_SLOTS}`);
  setText($("#sum-groups"), `${t.groups} / ${t.servers}`);
  setText($("#sum-proxies"), `${t.online} / ${t.proxies}`);
  setText($("#sum-qps"), M.fmtInt(t.qps));
  setText($("#sum-sessions"), M.fmtInt(t.sessions));
  setText($("#sum-keys"), M.fmtInt(t.keys));
  setText($("#sum-memory"), M.fmtBytes(t.memory));
}

function renderSlots(s) {
  slotMap.draw(s.slots, st.range);
  if (st.hover !== undefined) onHover(st.hover);
  const per = M.slotsPerGroup(s.slots);
  const legend = [...per.entries()].sort((a, b) => a[0] - b[0]).map(([gid, n]) =>
    h("span", {}, h("span", { class: "sw", style: `background:${M.groupColor(gid)}` }), `group ${gid} (${n})`));
  const c = M.stateCounts(s.slots);
  if (c.offline) legend.push(h("span", {}, h("span", { class: "sw", style: `background:${M.OFFLINE_COLOR}` }), `offline (${c.offline})`));
  legend.push(h("span", { class: "muted" }, "◢ pending · ◩ moving (source | target) · outlined: migrating / finished"));
  const sig = legend.map((e) => e.textContent).join("|");
  const box = $("#slot-legend");
  if (box.dataset.sig !== sig) {
    box.dataset.sig = sig;
    box.replaceChildren(...legend);
  }
  const runs = M.slotRuns(s.slots);
  const shown = runs.slice(0, MAX_RANGE_ROWS);
  if (runs.length > shown.length) shown.push({ more: runs.length - shown.length });
  syncRows($("#slot-ranges tbody"), shown, (r) => (r.more ? "more" : `${r.beg}-${r.end}-${r.group}-${r.state}-${r.target}`), (r) => r.more
    ? [{ text: `… ${r.more} more ranges`, cls: "muted" }, "", "", ""]
    : [
      r.beg === r.end ? pad4(r.beg) : `${pad4(r.beg)}–${pad4(r.end)}`,
      { text: r.end - r.beg + 1, cls: "num" },
      r.group ? `group ${r.group}` : { text: "offline", cls: "warn" },
      r.state ? `${r.state} → group ${r.target}` : "",
    ]);
}

function renderMigration(s) {
  const v = M.progressView(s);
  const panel = $("#migration-panel");
  panel.dataset.state = v.running ? (v.disabled ? "paused" : "running") : "idle";
  let headline;
  if (v.running) {
    headline = `${v.disabled ? "Paused" : "Moving"}: ${v.slotsLeft} slot${v.slotsLeft === 1 ? "" : "s"} left`;
    if (v.fraction !== undefined) headline += ` · ${Math.floor(v.fraction * 100)}% done`;
    if (v.etaSecs !== undefined && !v.disabled) headline += ` · about ${M.fmtDuration(v.etaSecs)} to go`;
  } else if (v.hasCounters && v.slotsDone > 0) {
    headline = `Done: last migration moved ${v.slotsDone} slots and ${M.fmtInt(v.keysMoved)} keys in ${M.fmtDuration(v.runSecs)}.`;
  } else {
    headline = "No slot is moving.";
  }
  setText($("#mig-headline"), headline);
  $("#mig-bar").style.width = `${Math.round((v.fraction ?? 0) * 1000) / 10}%`;
  setText($("#mig-slots-left"), M.fmtInt(v.slotsLeft));
  setText($("#mig-slots-done"), v.hasCounters ? M.fmtInt(v.slotsDone) : "—");
  setText($("#mig-keys-moved"), v.hasCounters ? M.fmtInt(v.keysMoved) : "—");
  setText($("#mig-rate"), v.hasCounters ? M.fmtRate(v.keysPerSec, "keys") : "—");
  setText($("#mig-eta"), v.running && v.etaSecs !== undefined ? M.fmtDuration(v.etaSecs) : v.running ? "estimating…" : "—");
  setText($("#mig-elapsed"), v.hasCounters && v.runSecs > 0 ? M.fmtDuration(v.runSecs) : "—");
  const parts = M.ACTION_STATES.filter((k) => v.counts[k] > 0).map((k) => `${k} ${v.counts[k]}`);
  setText($("#mig-states"), parts.length ? `slot states: ${parts.join(" · ")}` : "");
  setText($("#mig-status"), v.status);
  const err = $("#mig-error");
  const stopped = v.stopped.slice(0, 5).map((x) => `slot ${x.sid}: ${x.why}`);
  if (v.stopped.length > stopped.length) stopped.push(`… ${v.stopped.length - stopped.length} more`);
  const problems = [v.error ? `blocked: ${v.error}` : "", stopped.length ? `stopped: ${stopped.join("; ")}` : ""].filter(Boolean);
  err.hidden = problems.length === 0;
  setText(err, problems.join(" · "));
  setText($("#mig-toggle"), v.disabled ? "Resume moving" : "Pause moving");
  $("#mig-toggle").dataset.disabled = v.disabled ? "1" : "0";
  $("#f-interval input[name=us]").placeholder = String(v.interval);
}

function renderGroups(s) {
  const groups = s.group?.models ?? [];
  const per = M.slotsPerGroup(s.slots);
  $("#groups-empty").hidden = groups.length > 0;
  syncChildren($("#groups"), groups, (g) => g.id, () => h("div", { class: "group" },
    h("header", {},
      h("span", { class: "sw" }), h("span", { class: "title" }), h("span", { class: "muted slots" }),
      h("span", { class: "badge sync" }), h("span", { class: "badge promoting" }), h("span", { class: "spacer" }),
      h("span", { class: "btns" })),
    h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ...["#", "server", "backend", "role", "replication", "memory", "keys", "state", ""].map((t) => h("th", {}, t)))),
      h("tbody"))),
  (el, g) => {
    el.querySelector(".sw").style.background = M.groupColor(g.id);
    setText(el.querySelector(".title"), `group ${g.id}`);
    const n = per.get(g.id) ?? 0;
    setText(el.querySelector(".slots"), `${n} slot${n === 1 ? "" : "s"} · ${g.servers.length} server${g.servers.length === 1 ? "" : "s"}`);
    setText(el.querySelector(".badge.sync"), g.out_of_sync ? "out of sync" : "");
    setText(el.querySelector(".badge.promoting"), g.promoting?.state ? `promoting: ${g.promoting.state}` : "");
    const btns = [];
    if (g.out_of_sync) btns.push({ label: "Resync", action: "resync-group", data: { gid: g.id }, title: "push this group's slots to every proxy again" });
    if (g.servers.length === 0) btns.push({ label: "Remove group", action: "remove-group", data: { gid: g.id }, cls: "small danger" });
    setButtons(el.querySelector(".btns"), btns);
    const rows = g.servers.map((srv, i) => M.serverView(g, i, s.group.stats?.[srv.server], s.backends?.[srv.server]));
    syncRows(el.querySelector("tbody"), rows, (r) => r.addr, (r) => {
      const b = r.backend;
      const health = r.health === "ok" ? { text: "ok", cls: "ok" }
        : r.health === "error" ? { text: "error", cls: "bad", title: r.error }
          : r.health === "timeout" ? { text: "timeout", cls: "bad" } : { text: "waiting for INFO", cls: "muted" };
      if (r.syncState) health.text += ` · sync ${r.syncState}`;
      const buttons = [];
      if (r.index > 0) buttons.push({ label: "Promote", action: "promote", data: { gid: g.id, addr: r.addr }, title: "make this server the group's master" });
      if (r.index > 0 && r.mismatch) buttons.push({ label: "Sync", action: "sync-server", data: { addr: r.addr }, title: "replicate from the group's master" });
      buttons.push({ label: "Remove", action: "del-server", data: { gid: g.id, addr: r.addr }, cls: "small danger" });
      return [
        r.index,
        { text: r.addr + (r.datacenter ? ` · ${r.datacenter}` : ""), cls: "mono" },
        {
          text: b.kind ? `${b.kind} ${b.version}${b.mode ? ` (${b.mode})` : ""}`.trim() : "—",
          cls: b.error ? "bad" : "",
          title: b.error || (b.from === "dashboard" ? "reported by the dashboard" : b.from === "info" ? "from INFO" : ""),
        },
        r.role,
        { text: r.replication || "—", cls: r.mismatch ? "bad" : "", title: r.actual ? `expected ${r.expected}, actual ${r.actual}` : "" },
        { text: r.memory === undefined ? "—" : M.fmtBytes(r.memory) + (r.maxmemory > 0 ? ` / ${M.fmtBytes(r.maxmemory)}` : ""), cls: "num" },
        { text: r.keys === undefined ? "—" : M.fmtInt(r.keys), cls: "num" },
        health,
        { buttons },
      ];
    });
  });
}

function setButtons(box, btns) {
  const sig = JSON.stringify(btns);
  if (box.dataset.sig === sig) return;
  box.dataset.sig = sig;
  box.replaceChildren(...btns.map((b) => h("button", { type: "button", class: b.cls ?? "small", title: b.title, dataset: { action: b.action, ...b.data } }, b.label)));
}

const PROXY_COLORS = ["#2f6fdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#c92a2a", "#1098ad", "#5c940d", "#d6336c"];

function renderProxies(s) {
  const models = s.proxy?.models ?? [];
  $("#proxies-empty").hidden = models.length > 0;
  syncRows($("#proxies tbody"), models, (p) => p.token, (p) => {
    const ps = s.proxy.stats?.[p.token];
    const health = M.proxyHealth(ps);
    const ops = ps?.stats?.ops;
    const sess = ps?.stats?.sessions;
    return [
      p.id,
      { text: p.proxy_addr, cls: "mono" },
      { text: p.admin_addr, cls: "mono" },
      { text: health, cls: health === "online" ? "ok" : health === "pending" ? "muted" : "bad", title: ps?.error?.Cause ?? "" },
      { text: sess ? `${M.fmtInt(sess.alive)} / ${M.fmtInt(sess.total)}` : "—", cls: "num" },
      { text: ops ? M.fmtInt(ops.qps) : "—", cls: "num" },
      { text: ops ? M.fmtInt(ops.total) : "—", cls: "num" },
      { text: ops ? M.fmtInt(ops.fails + (ops.redis?.errors ?? 0)) : "—", cls: "num" },
      { text: ops ? st.history.lastErrs(p.token).toFixed(1) : "—", cls: "num" },
      { buttons: [
        { label: "Reinit", action: "reinit-proxy", data: { token: p.token }, title: "fill slots, start and set sentinels again" },
        { label: "Remove", action: "remove-proxy", data: { token: p.token, id: p.id, health }, cls: "small danger" },
      ] },
    ];
  });
  const series = (field) => [...st.history.series.values()].map((sr) => ({
    name: `proxy-${sr.id}`, color: PROXY_COLORS[(sr.id - 1 + PROXY_COLORS.length) % PROXY_COLORS.length],
    points: sr.points.map((p) => ({ t: p.t, v: p[field] })),
  }));
  const now = Math.max(Date.now() / 1000, ...[...st.history.series.values()].map((sr) => sr.points.at(-1)?.t ?? 0));
  drawChart($("#chart-ops"), series("ops"), { now });
  drawChart($("#chart-errs"), series("errs"), { now });
}

// ---- slot map interaction ---------------------------------------------------------------

function onHover(sid) {
  st.hover = sid;
  const box = $("#slot-hover");
  if (sid === undefined) return setText(box, "Click a slot to fill Begin, shift-click to fill End.");
  const m = st.stats?.slots?.[sid];
  if (!m) return setText(box, `slot ${sid}`);
  const owner = m.group_id ? `group ${m.group_id}` : "offline";
  setText(box, `slot ${sid} · ${owner}${m.action?.state ? ` · ${m.action.state} → group ${m.action.target_id}` : ""}`);
}

function onPick(sid, isEnd) {
  for (const id of ["#f-assign", "#f-migrate"]) {
    const f = $(id);
    f.elements[isEnd ? "end" : "beg"].value = String(sid);
    if (!isEnd && f.elements.end.value === "") f.elements.end.value = String(sid);
  }
  const f = $("#f-migrate").elements;
  try {
    st.range = M.parseRange(f.beg.value, f.end.value);
  } catch {
    st.range = undefined;
  }
  if (st.stats) slotMap.draw(st.stats.slots, st.range);
}

/** Drops the map's highlight of the picked range (the form fields keep their values). */
function clearRange() {
  st.range = undefined;
  if (st.stats) slotMap.draw(st.stats.slots, st.range);
}

// ---- actions ----------------------------------------------------------------------------

function need(value, what, { min = 0 } = {}) {
  const n = M.parseIntField(value);
  if (n === undefined || n < min) throw new Error(`${what} must be a whole number${min ? ` ≥ ${min}` : ""}`);
  return n;
}

function wireForms() {
  const on = (id, fn) => $(id).addEventListener("submit", (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const btn = form.querySelector("button[type=submit]");
    if (btn) btn.disabled = true;
    Promise.resolve().then(() => fn(form.elements, form)).catch((err) => record(form.id, err)).finally(() => {
      if (btn) btn.disabled = false;
    });
  });

  on("#f-create-group", async (f) => {
    const gid = need(f.gid.value, "gid", { min: 1 });
    await act(`create group ${gid}`, () => st.api.createGroup(gid));
  });
  on("#f-add-server", async (f) => {
    const gid = need(f.gid.value, "gid", { min: 1 });
    const addr = f.addr.value.trim();
    if (!addr) throw new Error("the server address is missing");
    const dc = f.datacenter.value.trim();
    if (await act(`add ${addr} to group ${gid}`, () => st.api.addServer(gid, addr, dc))) f.addr.value = "";
  });
  on("#f-assign", async (f) => {
    const { beg, end } = M.parseRange(f.beg.value, f.end.value);
    const gid = need(f.gid.value, "gid");
    const ok = await confirmDialog(`Assign slots ${beg}–${end} to ${gid ? `group ${gid}` : "no group (offline)"}?`, [
      "This sets the owner of these slots at once and moves no data: keys they already hold on another group are no longer reachable through the proxies.",
      "Use it to place empty slots; use Migrate to move slots that hold data.",
    ], "Assign");
    const body = M.assignBody(beg, end, gid);
    const label = gid ? `assign slots ${beg}-${end} to group ${gid}` : `take slots ${beg}-${end} offline`;
    if (ok && (await act(label, () => (gid ? st.api.assign(body) : st.api.assignOffline(body))))) clearRange();
  });
  on("#f-migrate", async (f) => {
    const { beg, end } = M.parseRange(f.beg.value, f.end.value);
    const gid = need(f.gid.value, "gid", { min: 1 });
    if (await act(`migrate slots ${beg}-${end} to group ${gid}`, () => st.api.migrateRange(beg, end, gid))) clearRange();
  });
  on("#f-rebalance", async () => {
    const plan = await act("plan a rebalance", () => st.api.rebalance(false), { quiet: true });
    if (!plan) return;
    const ranges = M.planRanges(plan);
    if (ranges.length === 0) {
      record("rebalance", "nothing changes: the slots are already spread evenly", "ok");
      return;
    }
    const n = Object.keys(plan).length;
    const list = h("ul", { class: "mono" }, ranges.map((r) => h("li", {}, `[${pad4(r.beg)}, ${pad4(r.end)}] → group ${r.gid}`)));
    if (await confirmDialog(`Rebalance: move ${n} slot${n === 1 ? "" : "s"}?`, [list, "Each range is migrated with its keys, as Migrate does."], "Rebalance")) {
      await act(`rebalance (${n} slots)`, () => st.api.rebalance(true));
    }
  });
  on("#f-create-proxy", async (f) => {
    const addr = f.addr.value.trim();
    if (!addr) throw new Error("the proxy admin address is missing");
    if (await act(`add proxy ${addr}`, () => st.api.createProxy(addr))) f.addr.value = "";
  });
  on("#f-interval", async (f) => {
    const us = need(f.us.value, "the pause");
    if (await act(`set the pause between steps to ${us} µs`, () => st.api.setInterval(us))) f.us.value = "";
  });
}

async function onButton(b) {
  const d = b.dataset;
  const gid = Number(d.gid);
  try {
    switch (d.action) {
      case "promote":
        if (await confirmDialog(`Promote ${d.addr}?`, `It becomes the master of group ${gid} and every proxy is told. The old master stays in the group as its last server, still a master: use Sync on it to make it a replica.`, "Promote")) {
          await act(`promote ${d.addr} in group ${gid}`, () => st.api.promote(gid, d.addr));
        }
        break;
      case "del-server":
        if (await confirmDialog(`Remove ${d.addr} from group ${gid}?`, "The server itself keeps running and keeps its data.", "Remove")) {
          await act(`remove ${d.addr} from group ${gid}`, () => st.api.removeServer(gid, d.addr));
        }
        break;
      case "sync-server":
        await act(`sync ${d.addr} from its master`, () => st.api.syncServer(d.addr));
        break;
      case "remove-group":
        if (await confirmDialog(`Remove group ${gid}?`, "The group has no server left.", "Remove")) {
          await act(`remove group ${gid}`, () => st.api.removeGroup(gid));
        }
        break;
      case "resync-group":
        await act(`resync group ${gid}`, () => st.api.resyncGroup(gid));
        break;
      case "reinit-proxy":
        await act(`reinit proxy ${d.token.slice(0, 8)}…`, () => st.api.reinitProxy(d.token));
        break;
      case "remove-proxy": {
        const force = d.health !== "online" && d.health !== "offline";
        const body = force
          ? "The proxy does not answer, so it is removed without being told (force)."
          : "The proxy is told to shut down, then removed from the dashboard.";
        if (await confirmDialog(`Remove proxy-${d.id}?`, body, "Remove")) {
          await act(`remove proxy-${d.id}${force ? " (force)" : ""}`, () => st.api.removeProxy(d.token, force));
        }
        break;
      }
      case "toggle-disabled": {
        const disable = d.disabled !== "1";
        await act(disable ? "pause moving slots" : "resume moving slots", () => st.api.setDisabled(disable));
        break;
      }
      default:
        break;
    }
  } catch (e) {
    record(d.action, e);
  }
}

/** Runs one API call as a logged action; resolves with its reply (undefined on failure). */
async function act(label, fn, { quiet = false } = {}) {
  const li = quiet ? undefined : addActivity(label, "…", "run");
  try {
    const r = await fn();
    if (li) finishActivity(li, "OK", "ok");
    refreshNow();
    return r ?? true;
  } catch (e) {
    if (li) finishActivity(li, e.message, "bad");
    else addActivity(label, e.message, "bad");
    showToast(`${label}: ${e.message}`);
    return undefined;
  }
}

function record(label, e, kind = "bad") {
  const msg = e instanceof Error ? e.message : String(e);
  addActivity(label.replace(/^f-/, "").replace(/-/g, " "), msg, kind);
  if (kind === "bad") showToast(msg);
}

function addActivity(label, result, kind) {
  const li = h("li", { class: kind }, h("span", { class: "t" }, clock()), h("span", { class: "l" }, label), " — ", h("span", { class: "r" }, result));
  const list = $("#activity");
  list.prepend(li);
  while (list.children.length > MAX_ACTIVITY) list.lastElementChild.remove();
  return li;
}

function finishActivity(li, result, kind) {
  li.className = kind;
  setText(li.querySelector(".r"), result);
}

// ---- banners ------------------------------------------------------------------------------

function showBanner(text, kind = "error") {
  const b = $("#banner");
  if (b.dataset.kind !== kind) b.dataset.since = clock();
  b.dataset.kind = kind;
  b.className = kind === "info" ? "banner info" : "banner";
  setText(b, text);
  b.hidden = false;
}

function hideBanner() {
  const b = $("#banner");
  b.hidden = true;
  b.dataset.kind = "";
}

let toastTimer = 0;
function showToast(text) {
  const t = $("#toast");
  setText(t, text);
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    t.hidden = true;
  }, 8000);
}

function clock() {
  return new Date().toLocaleTimeString("en-GB", { hour12: false });
}

function pad4(n) {
  return String(n).padStart(4, "0");
}
