// The soak run: a cluster (test/harness/cluster.ts), model-checked client load through both
// proxies, migration waves (with dashboard kills when asked), then the end checks. runSoak() is
// what `npm run soak` (bench/soak/main.ts) and the soak tests (test/integration/soak-*.test.ts) call.
import { performance } from "node:perf_hooks";
import { RedisClient } from "../../src/control/redis-client.js";
import { RespErrorValue, type Decoded } from "../../src/core/resp-decoder.js";
import { slotOfKey } from "../../src/core/slot.js";
import { Cluster, type BackendKind } from "../../test/harness/cluster.js";
import type { Stats } from "../../src/control/models.js";
import { CounterActor, FamilyActor, ListActor, RegisterActor, StaticActor, TtlActor, type Actor, type Op } from "./actors.js";
import { SoakConn } from "./conn.js";
import { Latency, SoakClient, type ClientClass } from "./client.js";
import { Anomalies, ErrorTexts, show, type Env, type Tally } from "./model.js";
import { rng } from "../micro/streams.js";
import { CpuSampler, type CpuFigures } from "./cpu.js";
import { describeSlots, SlotPins } from "./pins.js";
import { WaveDriver, type KillRecord, type KillState, type WaveRecord } from "./waves.js";

export interface SoakOptions {
  backend: BackendKind;
  /** migration_method: sync | semi-async | redis */
  method: string;
  waves: number;
  /** Keep doing waves until this many seconds of waves passed (0: just `waves`). */
  durationS: number;
  /** Dashboard kill steps, one per wave in turn (empty: no kills). */
  killAt: KillState[];
  clients: number;
  /** Batch size of pipelined clients. */
  depth: number;
  /** Keys written before the load and only read afterwards. */
  keys: number;
  beg: number;
  end: number;
  /** Backend groups (at least 2): the moving range starts on group 1 and goes to 2 and back. */
  groups: number;
  /**
   * The slots the load's keys hash to (bench/soak/pins.ts), the moving range included; the
   * others stay offline. Undefined: every slot.
   */
  slots?: number[];
  warmupS: number;
  steadyS: number;
  heldBoundS: number;
  timeoutS: number;
  deadS: number;
  deadLockedS: number;
  waveTimeoutS: number;
  /** migration_parallel_slots (undefined: the dashboard's default). */
  parallel?: number;
  intervalUs: number;
  workers: number;
  /** Clock slack of the TTL checks (ms); undefined: by backend (Pika keeps whole seconds). */
  ttlSlackMs?: number;
  maxErrorRatio: number;
  seed: number;
  /** Leave the cluster's folder (store, logs) in place. */
  keep: boolean;
  proxyConfig: Record<string, string | number | boolean>;
  dashboardConfig: Record<string, string | number>;
  /** Extra pika.conf keys (Pika backends). */
  backendConf: Record<string, string>;
  /** `ulimit -n` of each Pika server (undefined: the harness's default). */
  backendNofile?: number;
  log: (line: string) => void;
}

export const DEFAULTS: Omit<SoakOptions, "backend" | "method" | "log"> = {
  waves: 4, durationS: 0, killAt: [], clients: 13, depth: 16, keys: 20_000, beg: 512, end: 1023, groups: 2, slots: undefined,
  warmupS: 1, steadyS: 3, heldBoundS: 10, timeoutS: 60, deadS: 2, deadLockedS: 12, waveTimeoutS: 180,
  parallel: undefined, intervalUs: 0, workers: 2, ttlSlackMs: undefined, maxErrorRatio: 0.001, seed: 1, keep: false,
  proxyConfig: {}, dashboardConfig: {}, backendConf: {}, backendNofile: undefined,
};

/**
 * Where the slots start: the moving range on group 1; the other slots of the load on group 1
 * too with two groups, else spread in blocks over groups 3..N (so that groups 1 and 2, which
 * take the range in turn, hold no more than it: a Pika 3.4 server holds a few hundred slots at
 * most). Slots outside `slots` stay offline (0).
 */
export function initialLayout(o: Pick<SoakOptions, "beg" | "end" | "groups" | "slots">): (slot: number) => number {
  const used = new Set(o.slots ?? Array.from({ length: 1024 }, (_, i) => i));
  for (let s = o.beg; s <= o.end; s++) {
    if (!used.has(s)) throw new Error(`the moving range ${o.beg}-${o.end} must be within the load's slots (slot ${s} is not)`);
  }
  if (o.groups < 2) throw new Error("the soak needs at least 2 groups");
  const rest = [...used].filter((s) => s < o.beg || s > o.end).sort((a, b) => a - b);
  const gid = new Map<number, number>();
  const others = o.groups - 2;
  rest.forEach((s, i) => gid.set(s, others === 0 ? 1 : 3 + Math.floor((i * others) / rest.length)));
  return (slot) => (slot >= o.beg && slot <= o.end ? 1 : gid.get(slot) ?? 0);
}

/**
 * The moving range and the load's slots of a backend when the command line names none. Pika 3.4
 * adds a slot in 0.15-0.5 s and holds a few hundred per server (~26-35 file descriptors each):
 * its short soak moves 32 slots and keeps the keys in 64; a whole-keyspace run names its own
 * layout (--range, --slots, --groups).
 */
export function defaultSlots(backend: BackendKind): { beg: number; end: number; slots?: number[] } {
  if (backend !== "pika34") return { beg: DEFAULTS.beg, end: DEFAULTS.end };
  const slots = [...Array.from({ length: 32 }, (_, i) => i), ...Array.from({ length: 32 }, (_, i) => 512 + i)];
  return { beg: 512, end: 543, slots };
}

/** The default migration_method of each backend (codis's default semi-async for codis-style servers). */
export function defaultMethod(backend: BackendKind): string {
  return backend === "redis" ? "redis" : "semi-async";
}

/**
 * PX values and slack of the TTL checks. Redis and codis-server keep ms; Pika 3.5 refuses a PX
 * under 1000 ("invalid expire time") and keeps expiry in whole seconds, so its keys get whole
 * seconds and a second of slack.
 */
export function ttlPlan(backend: BackendKind, slack?: number): { min: number; max: number; step: number; slack: number } {
  return backend.startsWith("pika")
    ? { min: 2000, max: 4000, step: 1000, slack: slack ?? 1100 }
    : { min: 300, max: 1500, step: 1, slack: slack ?? 250 };
}

export interface ClassFigures {
  clients: number;
  /** ops/s by phase */
  opsPerSec: Record<string, number>;
  /** moving / steady */
  ratio: number;
}

export interface SoakResult {
  options: Omit<SoakOptions, "log">;
  anomalies: Anomalies;
  errors: ErrorTexts;
  tallies: Record<string, Tally>;
  totalOps: number;
  /** Seconds spent in each phase. */
  phaseS: Record<string, number>;
  classes: Record<ClientClass, ClassFigures>;
  latency: { phase: string; p50: number; p99: number; p999: number; maxMs: number; maxWhat: string }[];
  waves: WaveRecord[];
  kills: KillRecord[];
  /** Keys checked at the end: by reads through both proxies, and on the backends. */
  finalChecked: number;
  placementChecked: number;
  /** CPU of each process (dashboard, proxies, backends, the load itself) by phase. */
  cpu: CpuFigures;
  /** Every 100 ms: wall clock (epoch ms), phase, ops of each class and CPU ms of each process in it. */
  timeline: { t: number; phase: string; single: number; pipelined: number; cpu: Record<string, number> }[];
  logDir: string;
  elapsedS: number;
}


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** pika_delslots_grace the soak gives a Pika 3.4 dashboard (unless --dashboard-config sets it). */
export const PIKA34_GRACE_S = 2;
const staticKey = (i: number): string => `sk:static:${i}`;
const staticValue = (k: string): string => `sv:${k.slice(10)}`;

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const t0 = performance.now();
  const log = opts.log;
  const anomalies = new Anomalies();
  const errors = new ErrorTexts();
  const tallies: Record<string, Tally> = {};
  let driver: WaveDriver | undefined;
  const env: Env = {
    anomalies,
    errors,
    tally: (kind) => (tallies[kind] ??= { acked: 0, unknown: 0, checked: 0, abandoned: 0 }),
    where: (slot) => driver?.where(slot) ?? "",
  };

  const assign = initialLayout(opts);
  const pins = opts.slots && opts.slots.length < 1024 ? new SlotPins(opts.slots) : undefined;
  if (pins) env.pin = (base) => pins.pin(base);
  log(`soak: ${opts.backend}, method ${opts.method}: starting ${opts.groups} groups, a dashboard and 2 proxies`
    + (pins ? `; keys in ${pins.count} slots (${describeSlots(opts.slots!)}), the others offline` : ""));
  const cluster = await Cluster.start({
    backend: opts.backend, method: opts.method, groups: opts.groups, proxies: 2, proxyWorkers: opts.workers,
    parallelSlots: opts.parallel, proxyConfig: opts.proxyConfig, backendConf: opts.backendConf, backendNofile: opts.backendNofile, assign,
    // A moved slot's old copy goes after the grace: short, so the end checks see it gone.
    dashboardConfig: opts.backend === "pika34" ? { pika_delslots_grace: `${PIKA34_GRACE_S}s`, ...opts.dashboardConfig } : opts.dashboardConfig,
  });
  const [p1, p2] = cluster.proxies as [typeof cluster.proxies[0], typeof cluster.proxies[0]];
  const clients: SoakClient[] = [];
  let sampler: NodeJS.Timeout | undefined;
  try {
    driver = new WaveDriver(cluster, {
      beg: opts.beg, end: opts.end, waves: opts.waves, minMs: opts.durationS * 1000, steadyMs: opts.steadyS * 1000,
      waveTimeoutMs: opts.waveTimeoutS * 1000, killAt: opts.killAt, migratingDelayMs: 30,
      deadLockedMs: opts.deadLockedS * 1000, deadMs: opts.deadS * 1000, intervalUs: opts.intervalUs,
    }, anomalies, log);
    driver.startWatching();

    // Data that only gets read: it must survive every move.
    const statics = Array.from({ length: opts.keys }, (_, i) => (pins ? pins.pin(staticKey(i)) : staticKey(i)));
    if (statics.length) {
      log(`soak: writing ${statics.length} keys that the load only reads`);
      const c = await SoakConn.connect(p1.port);
      for (let i = 0; i < statics.length; i += 1000) {
        const cmds: string[][] = [];
        for (let j = i; j < Math.min(statics.length, i + 1000); j += 100) {
          cmds.push(["MSET", ...statics.slice(j, j + 100).flatMap((k) => [k, staticValue(k)])]);
        }
        const r = await c.exec(cmds, 30_000);
        const bad = r.replies.find((x) => x !== "OK");
        if (r.failure || bad !== undefined) throw new Error(`preload MSET failed: ${r.failure ?? show(bad)}`);
      }
      c.close();
    }

    // The clients: one-at-a-time and pipelined in turn, spread over both proxies.
    const ttl = ttlPlan(opts.backend, opts.ttlSlackMs);
    const latency = new Latency(opts.heldBoundS * 1000, env);
    const phase = (): string => driver!.phase;
    for (let i = 0; i < opts.clients; i++) {
      const rand = rng(opts.seed * 1000 + i);
      const n = `c${i}`;
      const actors: Actor[] = [];
      for (let j = 0; j < 3; j++) actors.push(new ListActor(env, `${n}l${j}`, rand));
      for (let j = 0; j < 3; j++) actors.push(new CounterActor(env, `${n}n${j}`, rand));
      for (let j = 0; j < 2; j++) actors.push(new RegisterActor(env, `${n}r${j}`, rand, "register"));
      for (let j = 0; j < 2; j++) actors.push(new RegisterActor(env, `${n}s${j}`, rand, "setdel"));
      for (let j = 0; j < 2; j++) actors.push(new TtlActor(env, `${n}t${j}`, rand, ttl.slack, ttl));
      for (let j = 0; j < 2; j++) actors.push(new FamilyActor(env, `${n}f${j}`, rand, undefined, opts.backend !== "pika34"));
      if (statics.length) actors.push(new StaticActor(env, `${n}k`, rand, statics, staticValue));
      const cls: ClientClass = i % 2 === 0 ? "single" : "pipelined";
      const [own, other] = Math.floor(i / 2) % 2 === 0 ? [p1, p2] : [p2, p1];
      clients.push(new SoakClient({
        id: i, cls, depth: cls === "single" ? 1 : opts.depth, port: own.port, peerPort: other.port, actors,
        timeoutMs: opts.timeoutS * 1000, crossEvery: cls === "single" ? 8 : 2, rand, env, latency, phase,
      }));
    }

    // Throughput by phase and client class, sampled every 100 ms.
    const phaseMs: Record<string, number> = {};
    const phaseOps: Record<string, Record<ClientClass, number>> = {};
    let lastT = performance.now();
    let lastOps = { single: 0, pipelined: 0 };
    const cpu = new CpuSampler(() => ({
      dashboard: cluster.dashboard.pid,
      ...Object.fromEntries(cluster.proxies.map((p, i) => [`proxy-${i + 1}`, p.pid])),
      ...Object.fromEntries(cluster.backends.map((b, i) => [`backend-${i + 1}`, b.pid])),
      load: process.pid,
    }));
    const timeline: SoakResult["timeline"] = [];
    const sample = (): void => {
      const now = performance.now();
      const used = cpu.sample(driver!.phase, now - lastT);
      const ops = { single: 0, pipelined: 0 };
      for (const c of clients) ops[c.cls] += c.ops;
      timeline.push({ t: Date.now(), phase: driver!.phase, single: ops.single - lastOps.single, pipelined: ops.pipelined - lastOps.pipelined, cpu: used });
      const ph = driver!.phase;
      phaseMs[ph] = (phaseMs[ph] ?? 0) + (now - lastT);
      const po = (phaseOps[ph] ??= { single: 0, pipelined: 0 });
      po.single += ops.single - lastOps.single;
      po.pipelined += ops.pipelined - lastOps.pipelined;
      lastT = now;
      lastOps = ops;
    };
    for (const c of clients) c.start();
    sampler = setInterval(sample, 100);
    log(`soak: ${opts.clients} clients running (${clients.filter((c) => c.cls === "single").length} one-at-a-time, ${clients.filter((c) => c.cls === "pipelined").length} pipelined ×${opts.depth})`);
    await sleep(opts.warmupS * 1000);
    driver.phase = "steady";
    await sleep(opts.steadyS * 1000);
    await driver.run();
    driver.phase = "final";
    sample();
    clearInterval(sampler);
    sampler = undefined;
    log("soak: stopping the load");
    await Promise.all(clients.map((c) => c.stop()));
    driver.stop();

    // End checks: every TTL expired first, so both proxies must agree exactly.
    await sleep(ttl.max + 2 * ttl.slack + 100);
    const actors = clients.flatMap((c) => c.o.actors);
    const finalOps = actors.flatMap((a) => a.final());
    const first = await runFinal(p1.port, finalOps, errors, anomalies);
    const second = await runFinal(p2.port, finalOps.map((o) => ({ args: o.args, reply: () => undefined, unknown: () => undefined })), errors, anomalies);
    // Set members come in any order (Pika's differ from call to call): compare them sorted.
    const norm = (args: string[], v: Decoded): string =>
      JSON.stringify(args[0] === "SMEMBERS" && Array.isArray(v) ? [...v].map(String).sort() : v);
    for (let i = 0; i < finalOps.length; i++) {
      if (norm(finalOps[i]!.args, first[i]!) !== norm(finalOps[i]!.args, second[i]!)) {
        const k = finalOps[i]!.args[1]!;
        anomalies.add("stale", `final ${finalOps[i]!.args[0]} ${k} (slot ${slotOfKey(k)}): proxy 1 answered ${show(first[i])}, proxy 2 ${show(second[i])}`, 1, "the proxies disagree at the end");
      }
    }
    let finalChecked = finalOps.length * 2;
    for (const port of [p1.port, p2.port]) finalChecked += await checkStatics(port, statics, errors, anomalies);

    // Placement: every live key on the group that owns its slot and nowhere else; deleted keys nowhere.
    // Only meaningful once every slot is settled (a stuck wave leaves keys on both sides), and,
    // on Pika 3.4, once the moved slots' old copies are gone (pika_delslots_grace).
    const st = await settledCopies(cluster, log);
    const owner = (k: string): number => st.slots[slotOfKey(k)]!.group_id;
    const unsettled = st.slots.filter((m) => m.action?.state).length;
    const live = [...statics];
    const dead: string[] = [];
    for (const a of actors) {
      const p = a.placement();
      live.push(...p.live);
      dead.push(...p.dead);
    }
    let placementChecked = 0;
    if (unsettled === 0) placementChecked = await checkPlacement(cluster, live, dead, owner, errors, anomalies);
    else log(`soak: ${unsettled} slots still have a migration action: keys on the backends not checked`);

    // Nothing proven is not a pass.
    for (const kind of ["list", "counter", "register", "setdel", "ttl", "family"]) {
      const t = tallies[kind];
      if (!t || t.acked === 0 || t.checked === 0) anomalies.add("vacuous", `${kind}: ${t ? `${t.acked} acknowledged writes, ${t.checked} checked replies` : "never ran"}`);
    }
    if (statics.length && !(tallies.static?.checked)) anomalies.add("vacuous", "static keys: never read");
    if (driver.waves.filter((w) => w.done).length === 0) anomalies.add("vacuous", "no migration wave finished");
    const totalOps = clients.reduce((s, c) => s + c.ops, 0);
    if (totalOps === 0 || errors.total > opts.maxErrorRatio * totalOps) {
      anomalies.add("errors", `${errors.total} error replies in ${totalOps} requests (allowed ratio ${opts.maxErrorRatio})`);
    }

    const classes = {} as Record<ClientClass, ClassFigures>;
    for (const cls of ["single", "pipelined"] as const) {
      const opsPerSec: Record<string, number> = {};
      for (const [ph, ms] of Object.entries(phaseMs)) if (ms > 0) opsPerSec[ph] = (phaseOps[ph]?.[cls] ?? 0) / (ms / 1000);
      classes[cls] = {
        clients: clients.filter((c) => c.cls === cls).length,
        opsPerSec,
        ratio: opsPerSec.steady ? (opsPerSec.moving ?? 0) / opsPerSec.steady : 0,
      };
    }
    const phases = [...latency.buckets.keys()];
    return {
      options: { ...opts, log: undefined } as unknown as Omit<SoakOptions, "log">,
      anomalies, errors, tallies, totalOps,
      phaseS: Object.fromEntries(Object.entries(phaseMs).map(([k, v]) => [k, v / 1000])),
      classes,
      latency: phases.map((ph) => {
        // A quantile is its bucket's upper edge: never above the largest latency seen.
        const max = latency.max.get(ph)?.ms ?? 0;
        const q = (x: number): number => Math.min(max, latency.quantile(ph, x));
        return { phase: ph, p50: q(0.5), p99: q(0.99), p999: q(0.999), maxMs: max, maxWhat: latency.max.get(ph)?.what ?? "" };
      }),
      waves: driver.waves,
      kills: driver.waves.flatMap((w) => (w.kill ? [w.kill] : [])),
      finalChecked, placementChecked,
      cpu: cpu.figures(), timeline,
      logDir: cluster.dashboard.dir,
      elapsedS: (performance.now() - t0) / 1000,
    };
  } finally {
    if (sampler) clearInterval(sampler);
    driver?.stop();
    await Promise.all(clients.map((c) => c.stop()));
    await cluster.stop(opts.keep);
  }
}

/**
 * The dashboard's stats once no Pika 3.4 source copy waits for removal (bounded: the grace the
 * soak sets plus a minute); an old copy still there would show as a stray one.
 */
async function settledCopies(cluster: Cluster, log: (s: string) => void): Promise<Stats> {
  const deadline = performance.now() + 60_000 + (cluster.opts.backend === "pika34" ? PIKA34_GRACE_S * 1000 : 0);
  for (;;) {
    const st = await cluster.dashboard.stats();
    const left = st.slot_action.replication?.cleanup.length ?? 0;
    if (left === 0) return st;
    if (performance.now() > deadline) {
      log(`soak: ${left} old Pika 3.4 slot copies still wait for removal: they count as stray copies`);
      return st;
    }
    await sleep(500);
  }
}

/** Runs the end reads through one proxy in batches; returns the raw replies. Errors and missing replies are anomalies. */
async function runFinal(port: number, ops: Op[], errors: ErrorTexts, anomalies: Anomalies): Promise<Decoded[]> {
  const out: Decoded[] = [];
  let c = await SoakConn.connect(port);
  try {
    for (let i = 0; i < ops.length; i += 64) {
      const batch = ops.slice(i, i + 64);
      const r = await c.exec(batch.map((o) => o.args), 30_000);
      batch.forEach((o, j) => {
        const v = r.replies[j];
        out.push(v === undefined ? null : v);
        if (v === undefined) anomalies.add("unfinished", `final ${o.args.slice(0, 2).join(" ")}: no reply (${r.failure})`, 1, "final read");
        else if (v instanceof RespErrorValue) {
          errors.add(v.message);
          anomalies.add("stale", `final ${o.args.slice(0, 2).join(" ")} answered an error: ${v.message}`, 1, "final read answered an error");
        } else o.reply(v, r.sentAt, r.at[j]!);
      });
      // The missing replies are anomalies above; a new connection for the rest.
      if (r.failure) {
        c.close();
        c = await SoakConn.connect(port);
      }
    }
  } finally {
    c.close();
  }
  return out;
}

/** Reads the static keys through one proxy (MGET by 100); returns how many were checked. */
async function checkStatics(port: number, keys: string[], errors: ErrorTexts, anomalies: Anomalies): Promise<number> {
  let c = await SoakConn.connect(port);
  try {
    for (let i = 0; i < keys.length; i += 1000) {
      const cmds: string[][] = [];
      for (let j = i; j < Math.min(keys.length, i + 1000); j += 100) cmds.push(["MGET", ...keys.slice(j, j + 100)]);
      const r = await c.exec(cmds, 30_000);
      if (r.failure) {
        anomalies.add("unfinished", `final MGET of static keys ${cmds[r.replies.length]![1]} on through port ${port}: ${r.failure}`, cmds.length - r.replies.length);
        c.close();
        c = await SoakConn.connect(port);
      }
      r.replies.forEach((v, b) => {
        const ks = cmds[b]!.slice(1);
        if (v instanceof RespErrorValue || !Array.isArray(v)) {
          if (v instanceof RespErrorValue) errors.add(v.message);
          anomalies.add("stale", `final MGET of ${ks.length} static keys from ${ks[0]} answered ${show(v)}`);
          return;
        }
        ks.forEach((k, x) => {
          if (v[x] === staticValue(k)) return;
          anomalies.add(v[x] === null ? "lost" : "stale", `final MGET ${k} (slot ${slotOfKey(k)}, written before the load) through port ${port}: ${show(v[x])}`, 1, "static final MGET");
        });
      });
    }
  } finally {
    c.close();
  }
  return keys.length;
}

/** EXISTS of every key on every group's server: live keys only on their owner, dead keys nowhere. */
async function checkPlacement(cluster: Cluster, live: string[], dead: string[], owner: (k: string) => number,
  errors: ErrorTexts, anomalies: Anomalies): Promise<number> {
  const conns = await Promise.all(cluster.backends.map((b) => RedisClient.connect(b.addr, { timeoutMs: 30_000 })));
  try {
    const check = async (keys: string[], isLive: boolean): Promise<void> => {
      for (let i = 0; i < keys.length; i += 500) {
        const chunk = keys.slice(i, i + 500);
        const found = await Promise.all(conns.map((c) => Promise.all(chunk.map((k) => c.call("EXISTS", k).then(
          (n) => n as number,
          (e: Error) => {
            // A Pika 3.4 server that holds no copy of the key's slot holds no copy of the key.
            if (/Partition not found/.test(e.message)) return 0;
            errors.add(`placement EXISTS: ${e.message}`);
            return -1;
          },
        )))));
        chunk.forEach((k, j) => {
          const home = owner(k);
          found.forEach((perGroup, g) => {
            const gid = g + 1;
            const n = perGroup[j]!;
            if (n < 0) return;
            const want = isLive && gid === home ? 1 : 0;
            if (n === want) return;
            const what = `${k} (slot ${slotOfKey(k)}, owned by group ${home})`;
            if (n === 1) anomalies.add("misplaced", `${what}: ${isLive ? "a stray copy" : "deleted, yet present"} on group ${gid}`, 1, isLive ? "stray copy" : "deleted key present");
            else anomalies.add("misplaced", `${what}: missing on its group ${gid}`, 1, "missing on its group");
          });
        });
      }
    };
    await check(live, true);
    await check(dead, false);
  } finally {
    for (const c of conns) c.close();
  }
  return live.length + dead.length;
}
