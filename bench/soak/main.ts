// `npm run soak -- --backend redis|codis-server|pika34|pika35|pika40 [options]`: proves or
// disproves that no acknowledged operation is lost while slots move (see bench/soak/soak.ts and
// the README's "Soak" section). Exits 0 when no anomaly was found, 1 when any was, 2 on bad usage
// or when the cluster could not be started.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { BACKEND_KINDS, type BackendKind } from "../../test/harness/cluster.js";
import { formatReport } from "./report.js";
import { parseSlotList } from "./pins.js";
import { DEFAULTS, defaultMethod, defaultSlots, initialLayout, runSoak, type SoakOptions } from "./soak.js";
import { KILL_STATES, killStates, type KillState } from "./waves.js";

const USAGE = `usage: npm run soak -- --backend KIND [options]

Starts groups of real servers (two by default), a slotway dashboard and two proxies, runs model-checked
clients through both proxies while the dashboard moves a slot range to the other group and
back, then checks every key. Prints lost / duplicated / reordered / resurrected / stale counts,
throughput while slots move as a ratio to steady state, latency and time per slot.

  --backend KIND        ${BACKEND_KINDS.join(" | ")}
  --method M            sync | semi-async | redis (default: redis for redis, semi-async otherwise)
  --waves N             migration waves, alternately to group 2 and back (default ${DEFAULTS.waves})
  --duration S          keep doing waves until S seconds of waves passed (at least --waves)
  --kill-dashboard      SIGKILL the dashboard once per wave, at the steps of --kill-at in turn,
                        and restart it after --dead (--dead-locked inside the locked window)
  --kill-at LIST        steps, comma-separated (default all: ${KILL_STATES.join(",")}; pika34 has no
                        migrating: its slots replicate while preparing)
  --clients N           clients, half one-at-a-time, half pipelined (default ${DEFAULTS.clients})
  --depth N             pipeline depth of pipelined clients (default ${DEFAULTS.depth}, at least 8)
  --keys N              keys written before the load and only read (default ${DEFAULTS.keys})
  --range A-B           slots that move (default ${DEFAULTS.beg}-${DEFAULTS.end}; pika34: 512-543)
  --slots LIST          slots the keys hash to, e.g. 0-31,512-543 (default all; pika34: 0-31 and
                        the range); the others stay offline. Must include the range
  --groups N            backend groups (default ${DEFAULTS.groups}): the range starts on group 1 and moves
                        to group 2 and back; with more than 2 the other slots go to groups 3..N
  --steady S            steady seconds before the first wave and after each (default ${DEFAULTS.steadyS})
  --held-bound S        a request slower than this is "held" (default ${DEFAULTS.heldBoundS})
  --timeout S           client timeout: no reply by then is "unfinished" (default ${DEFAULTS.timeoutS})
  --dead S              seconds the killed dashboard stays down (default ${DEFAULTS.deadS})
  --dead-locked S       the same when proxies hold locked slots (default ${DEFAULTS.deadLockedS})
  --wave-timeout S      a wave not done by then is "stuck" (default ${DEFAULTS.waveTimeoutS})
  --parallel N          migration_parallel_slots of the dashboard (default: its own, 100)
  --interval US         slots/action/interval in µs between bulk steps (default 0)
  --workers N           worker threads per proxy (default ${DEFAULTS.workers})
  --proxy-config K=V    extra proxy.toml key (repeatable)
  --dashboard-config K=V  extra dashboard.toml key (repeatable)
  --backend-conf K=V    extra pika.conf key for Pika backends (repeatable), e.g. cache-model=0
  --backend-nofile N    ulimit -n of each Pika server (default 12000; Pika 3.4 needs ~40 per slot)
  --ttl-slack MS        clock slack of the TTL checks (default 250, Pika 1100: it keeps whole seconds)
  --max-error-ratio X   error replies above this share of requests are an anomaly (default ${DEFAULTS.maxErrorRatio})
  --seed N              seed of the clients' plans (default ${DEFAULTS.seed})
  --json FILE           also write the result as JSON
  --keep                keep the cluster's folder (store, dashboard and proxy logs)
  --help`;

function fail(msg: string): never {
  process.stderr.write(`soak: ${msg}\n\n${USAGE}\n`);
  process.exit(2);
}

function num(v: string | undefined, name: string, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) fail(`--${name} wants a number ≥ ${min}, got "${v}"`);
  return n;
}

function kv(list: string[] | undefined, name: string): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const item of list ?? []) {
    const i = item.indexOf("=");
    if (i <= 0) fail(`--${name} wants KEY=VALUE, got "${item}"`);
    const v = item.slice(i + 1);
    out[item.slice(0, i)] = /^-?\d+$/.test(v) ? Number(v) : v === "true" ? true : v === "false" ? false : v;
  }
  return out;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        backend: { type: "string" }, method: { type: "string" }, waves: { type: "string" }, duration: { type: "string" },
        "kill-dashboard": { type: "boolean" }, "kill-at": { type: "string" }, clients: { type: "string" }, depth: { type: "string" },
        keys: { type: "string" }, range: { type: "string" }, slots: { type: "string" }, groups: { type: "string" },
        "backend-nofile": { type: "string" }, steady: { type: "string" }, "held-bound": { type: "string" },
        timeout: { type: "string" }, dead: { type: "string" }, "dead-locked": { type: "string" }, "wave-timeout": { type: "string" },
        parallel: { type: "string" }, interval: { type: "string" }, workers: { type: "string" },
        "proxy-config": { type: "string", multiple: true }, "dashboard-config": { type: "string", multiple: true },
        "backend-conf": { type: "string", multiple: true },
        "ttl-slack": { type: "string" }, "max-error-ratio": { type: "string" }, seed: { type: "string" }, json: { type: "string" },
        keep: { type: "boolean" }, help: { type: "boolean" },
      },
      strict: true,
    }));
  } catch (e) {
    fail((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const backend = values.backend as BackendKind | undefined;
  if (!backend || !BACKEND_KINDS.includes(backend)) fail(`--backend must be one of ${BACKEND_KINDS.join(", ")}`);
  const method = values.method ?? defaultMethod(backend);
  if (!["sync", "semi-async", "redis"].includes(method)) fail(`--method must be sync, semi-async or redis`);
  let killAt: KillState[] = [];
  if (values["kill-dashboard"]) {
    const steps = killStates(backend);
    killAt = (values["kill-at"] ?? steps.join(",")).split(",").map((s) => s.trim()) as KillState[];
    for (const s of killAt) if (!steps.includes(s)) fail(`--kill-at: step "${s}" is not one of ${backend}'s (${steps.join(", ")})`);
  } else if (values["kill-at"]) fail("--kill-at needs --kill-dashboard");
  const byBackend = defaultSlots(backend);
  let beg = byBackend.beg;
  let end = byBackend.end;
  let slots = byBackend.slots;
  if (values.range) {
    const m = /^(\d+)-(\d+)$/.exec(values.range);
    if (!m || Number(m[1]) > Number(m[2]) || Number(m[2]) > 1023) fail(`--range wants A-B within 0-1023, got "${values.range}"`);
    beg = Number(m[1]);
    end = Number(m[2]);
    // A backend's default slots follow a range given here: the range and as many others.
    if (slots) {
      const n = end - beg + 1;
      const others = Array.from({ length: 1024 }, (_, i) => i).filter((s) => s < beg || s > end).slice(0, n);
      slots = [...others, ...Array.from({ length: n }, (_, i) => beg + i)].sort((a, b) => a - b);
    }
  }
  if (values.slots) {
    try {
      slots = parseSlotList(values.slots);
    } catch (e) {
      fail(`--slots: ${(e as Error).message}`);
    }
  }
  const groups = num(values.groups, "groups", 2) ?? DEFAULTS.groups;
  try {
    initialLayout({ beg, end, groups, slots });
  } catch (e) {
    fail((e as Error).message);
  }
  const depth = num(values.depth, "depth", 8) ?? DEFAULTS.depth;
  const heldBoundS = num(values["held-bound"], "held-bound", 0.1) ?? DEFAULTS.heldBoundS;
  const opts: SoakOptions = {
    ...DEFAULTS,
    backend, method, killAt, beg, end, depth, heldBoundS, groups, slots,
    backendNofile: num(values["backend-nofile"], "backend-nofile", 1),
    waves: num(values.waves, "waves", 1) ?? DEFAULTS.waves,
    durationS: num(values.duration, "duration") ?? DEFAULTS.durationS,
    clients: num(values.clients, "clients", 1) ?? DEFAULTS.clients,
    keys: num(values.keys, "keys") ?? DEFAULTS.keys,
    steadyS: num(values.steady, "steady", 0.5) ?? DEFAULTS.steadyS,
    timeoutS: num(values.timeout, "timeout", 1) ?? DEFAULTS.timeoutS,
    deadS: num(values.dead, "dead") ?? DEFAULTS.deadS,
    deadLockedS: num(values["dead-locked"], "dead-locked") ?? heldBoundS + 2,
    waveTimeoutS: num(values["wave-timeout"], "wave-timeout", 1) ?? DEFAULTS.waveTimeoutS,
    parallel: num(values.parallel, "parallel", 1),
    intervalUs: num(values.interval, "interval") ?? DEFAULTS.intervalUs,
    workers: num(values.workers, "workers", 1) ?? DEFAULTS.workers,
    ttlSlackMs: num(values["ttl-slack"], "ttl-slack"),
    maxErrorRatio: num(values["max-error-ratio"], "max-error-ratio") ?? DEFAULTS.maxErrorRatio,
    seed: num(values.seed, "seed") ?? DEFAULTS.seed,
    keep: values.keep ?? false,
    proxyConfig: kv(values["proxy-config"], "proxy-config"),
    dashboardConfig: kv(values["dashboard-config"], "dashboard-config") as Record<string, string | number>,
    backendConf: Object.fromEntries(Object.entries(kv(values["backend-conf"], "backend-conf")).map(([k, v]) => [k, String(v)])),
    log: (s) => process.stdout.write(s + "\n"),
  };
  let stopping = false;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`soak: ${sig}, stopping the servers\n`);
      // The cluster harness SIGKILLs its processes on exit.
      process.exit(130);
    });
  }
  let result;
  try {
    result = await runSoak(opts);
  } catch (e) {
    process.stderr.write(`soak: ${(e as Error).stack ?? String(e)}\n`);
    return 2;
  }
  process.stdout.write(formatReport(result) + "\n");
  if (values.json) {
    writeFileSync(values.json, JSON.stringify({
      ...result,
      anomalies: {
        counts: Object.fromEntries(result.anomalies.counts), byLabel: Object.fromEntries(result.anomalies.byLabel),
        examples: Object.fromEntries(result.anomalies.examples),
      },
      errors: Object.fromEntries(result.errors.counts),
    }, null, 2));
  }
  return result.anomalies.total === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (e) => {
  process.stderr.write(`soak: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(2);
});
