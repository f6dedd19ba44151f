// codis's launch flags and texts: a start script with codis's command lines starts slotway
// unchanged (--config, --dashboard, --log, --log-level, --ncpu, --pidfile), and the texts codis
// tools and operators read are Go's (start_time, connection refused, rusage.raw, error Stack).
import { execFile, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { apiCall } from "../../src/control/http.js";
import type { Stats } from "../../src/control/models.js";
import { xauth } from "../../src/control/xauth.js";
import { codisAdmin } from "../harness/codis-tools.js";
import { freePort } from "../harness/ports.js";
import { startRedis, stopAllRedis } from "../harness/redis.js";
import { CLI, startSlotway, stopAllSlotway } from "../harness/slotway.js";
import { until } from "../harness/wait.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/codis-admin/", import.meta.url));
// Go's time.Time.String(): "2026-11-30 21:15:09.467168703 +0000 UTC m=+0.009588702".
const GO_TIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,9})? [+-]\d{4} [A-Z0-9+-]+ m=\+\d+\.\d{9}$/;
const pids: number[] = [];

afterAll(async () => {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await stopAllSlotway();
  await stopAllRedis();
});

function sh(script: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("bash", [script, ...args], { env: { ...process.env, ...env }, timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${script} ${args.join(" ")}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

describe("a codis start script", () => {
  it("starts and stops a slotway dashboard and proxy with codis's command lines", async () => {
    const redis = await startRedis();
    const root = mkdtempSync(path.join(tmpdir(), "slotway-codis-layout-"));
    for (const d of ["admin", "bin", "config"]) mkdirSync(path.join(root, d));
    for (const f of ["codis-dashboard-admin.sh", "codis-proxy-admin.sh"]) copyFileSync(path.join(FIXTURES, f), path.join(root, "admin", f));
    // codis's bin/ holds codis's binaries; here they are slotway.
    for (const [bin, cmd] of [["codis-dashboard", "dashboard"], ["codis-proxy", "proxy"]]) {
      const file = path.join(root, "bin", bin!);
      writeFileSync(file, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} ${cmd} "$@"\n`);
      chmodSync(file, 0o755);
    }
    const [dashPort, proxyPort, adminPort] = [await freePort(), await freePort(), await freePort()];
    writeFileSync(path.join(root, "config", "dashboard.toml"), [
      `coordinator_name = "filesystem"`, `coordinator_addr = ${JSON.stringify(path.join(root, "store"))}`,
      `product_name = "scripted"`, `admin_addr = "127.0.0.1:${dashPort}"`, "",
    ].join("\n"));
    writeFileSync(path.join(root, "config", "proxy.toml"), [
      `product_name = "scripted"`, `admin_addr = "127.0.0.1:${adminPort}"`, `proxy_addr = "127.0.0.1:${proxyPort}"`, "",
    ].join("\n"));
    const dashAdmin = path.join(root, "admin", "codis-dashboard-admin.sh");
    const proxyAdmin = path.join(root, "admin", "codis-proxy-admin.sh");
    const dashPid = path.join(root, "bin", "codis-dashboard.pid");
    const proxyPid = path.join(root, "bin", "codis-proxy.pid");

    await sh(dashAdmin, ["start"]);
    const dpid = Number(await until("dashboard pid file", () => existsSync(dashPid) && readFileSync(dashPid, "utf8"), 15_000, 50));
    pids.push(dpid);
    const base = `http://127.0.0.1:${dashPort}`;
    const topom = await until("dashboard answers", () => apiCall<{ model: { start_time: string; pid: number } }>("GET", `${base}/topom`), 15_000, 50);
    expect(topom.model.pid).toBe(dpid);
    expect(topom.model.start_time).toMatch(GO_TIME);

    await sh(proxyAdmin, ["start"], { CODIS_DASHBOARD_ADDR: `127.0.0.1:${dashPort}` });
    const ppid = Number(await until("proxy pid file", () => existsSync(proxyPid) && readFileSync(proxyPid, "utf8"), 15_000, 50));
    pids.push(ppid);
    // codis writes the pid without a newline.
    expect(readFileSync(proxyPid, "utf8")).toBe(String(ppid));
    const X = xauth("scripted");
    await until("proxy online at the dashboard", async () => {
      const st = await apiCall<Stats>("GET", `${base}/api/topom/stats/${X}`);
      return st.proxy.models.some((m) => m.admin_addr === `127.0.0.1:${adminPort}` && st.proxy.stats[m.token]?.stats?.online);
    }, 20_000, 100);
    // The cluster works through the scripted processes.
    await apiCall("PUT", `${base}/api/topom/group/create/${X}/1`);
    await apiCall("PUT", `${base}/api/topom/group/add/${X}/1/${redis.addr}`);
    await apiCall("PUT", `${base}/api/topom/slots/assign/${X}`, Array.from({ length: 1024 }, (_, i) => ({ id: i, group_id: 1, action: {} })));
    const model = await apiCall<{ pid: number; start_time: string }>("GET", `http://127.0.0.1:${adminPort}/api/proxy/model`);
    expect(model.pid).toBe(ppid);
    expect(model.start_time).toMatch(GO_TIME);

    // --log FILE: the log goes to FILE.<date>, codis's daily file, not to the nohup output.
    const logDir = path.join(root, "log");
    await until("logs written", () => {
      const names = readdirSync(logDir);
      return names.includes(`codis-dashboard.log.${today()}`) && names.includes(`codis-proxy.log.${today()}`);
    }, 10_000, 50);
    await until("proxy log says announced", () => readFileSync(path.join(logDir, `codis-proxy.log.${today()}`), "utf8").includes("announced to dashboard"), 10_000, 50);
    expect(readFileSync(path.join(logDir, `codis-dashboard.log.${today()}`), "utf8")).toContain("dashboard online");
    expect(readFileSync(path.join(logDir, "codis-proxy.out"), "utf8")).not.toContain("announced");
    // --ncpu=4: two worker threads (one per two cores).
    expect(readFileSync(path.join(logDir, `codis-proxy.log.${today()}`), "utf8")).toContain("set ncpu = 4: 2 worker thread(s)");

    // stop: kill -2 <pid file>; the processes exit and remove their pid files.
    await sh(proxyAdmin, ["stop"]);
    await until("proxy gone", () => !alive(ppid) && !existsSync(proxyPid), 15_000, 50);
    await sh(dashAdmin, ["stop"]);
    await until("dashboard gone", () => !alive(dpid) && !existsSync(dashPid), 15_000, 50);
  }, 90_000);
});

describe("codis's flags and texts", () => {
  it("--ulimit refuses to start below the limit, --version and --default-config print", async () => {
    const run = (args: string[]) => new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      p.stdout.on("data", (d: Buffer) => (out += d.toString()));
      p.stderr.on("data", (d: Buffer) => (out += d.toString()));
      p.on("exit", (code) => resolve({ code, out }));
    });
    const big = await run(["proxy", "--ulimit=1000000000"]);
    expect(big.code).toBe(2);
    expect(big.out).toMatch(/ulimit too small: \d+, should be at least 1000000000/);
    expect((await run(["proxy", "--version"])).out).toMatch(/^version: \S+\ncompile: node v/);
    expect((await run(["dashboard", "--version"])).out).toMatch(/^version: \S+\ncompile: node v/);
    expect((await run(["proxy", "--default-config"])).out).toContain('jodis_name = ""');
    const both = await run(["proxy", "--zookeeper", "127.0.0.1:1", "--etcd", "127.0.0.1:1"]);
    expect(both.code).toBe(2);
    expect(both.out).toContain("--etcd and --zookeeper exclude each other");
  });

  it("--product_name and --host-admin override the file; stats carry rusage.raw", async () => {
    const adminPort = await freePort();
    const p = await startSlotway({
      workers: 1,
      config: { admin_addr: `0.0.0.0:${adminPort}` },
      args: ["--product_name", "renamed", "--host-admin", "127.0.0.1", "--fillslots", writeEmptySlots()],
      waitReady: false,
    });
    const model = await until("model", () => apiCall<{ product_name: string; admin_addr: string; sys: string }>(
      "GET", `http://127.0.0.1:${adminPort}/api/proxy/model`), 15_000, 50);
    expect(model.product_name).toBe("renamed");
    expect(model.admin_addr).toBe(`127.0.0.1:${adminPort}`);
    const stats = await apiCall<{ rusage: { now: string; cpu: number; mem: number; raw: Record<string, number> } }>(
      "GET", `http://127.0.0.1:${adminPort}/proxy/stats`);
    expect(stats.rusage.now).toMatch(GO_TIME);
    expect(Object.keys(stats.rusage.raw)).toEqual(["utime", "stime", "cutime", "cstime", "num_threads", "vm_size", "vm_rss"]);
    // The proxy has a main thread, a worker and Node's own threads; it uses CPU and memory.
    expect(stats.rusage.raw.num_threads).toBeGreaterThan(2);
    expect(stats.rusage.raw.utime + stats.rusage.raw.stime).toBeGreaterThan(0);
    expect(stats.rusage.raw.vm_size).toBeGreaterThan(stats.rusage.raw.vm_rss);
    expect(stats.rusage.mem).toBe(stats.rusage.raw.vm_rss);
    await p.stop();
  });

  it("says `connection refused` as Go does, and codis-admin prints the remote Stack", async () => {
    const closed = await freePort();
    const p = await startSlotway({ workers: 1, args: ["--dashboard", `127.0.0.1:${closed}`] });
    await until("refused logged", () => p.output().includes(
      `Get "http://127.0.0.1:${closed}/api/topom/model": dial tcp 127.0.0.1:${closed}: connect: connection refused`), 10_000, 50);
    const r = await codisAdmin([`--proxy=${p.adminAddr}`, "--auth=wrong", "--start"]);
    expect(r.code).not.toBe(0);
    const out = r.stdout + r.stderr;
    expect(out).toContain("[Remote Error] invalid xauth, please check product name & auth");
    // The remote stack, in codis's trace format: frame number, file:line, then the function.
    expect(out).toMatch(/\d+\s+\S*dist\/src\/control\/proxy\.js:\d+\n\s+verify/);
    const down = await codisAdmin([`--proxy=127.0.0.1:${closed}`, "model"]);
    expect(down.stdout + down.stderr).toContain(`dial tcp 127.0.0.1:${closed}: connect: connection refused`);
    await p.stop();
  });
});

function writeEmptySlots(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "slotway-slots-"));
  const f = path.join(dir, "slots.json");
  writeFileSync(f, "[]");
  return f;
}
