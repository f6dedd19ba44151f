// `slotway fe` (codis-fe's replacement) in front of real `slotway dashboard` processes, with the
// product list from a --dashboard-list file, a filesystem store and etcd; and the console's
// files as the dashboard serves them under /ui/.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { xauth } from "../../src/control/xauth.js";
import { httpRequest } from "../harness/admin.js";
import { startBrowser } from "../harness/browser.js";
import { startDashboard, stopAllDashboards } from "../harness/dashboard.js";
import { startEtcd, stopAllEtcd } from "../harness/etcd.js";
import { startZookeeper, stopAllZookeeper } from "../harness/zookeeper.js";
import { runFeToExit, startFe, stopAllFe } from "../harness/fe.js";
import { freePort } from "../harness/ports.js";
import { startRedis, stopAllRedis } from "../harness/redis.js";
import { until } from "../harness/wait.js";

// codis 3.2.2's binaries (../shared/peers/README.md).
const PEERS = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "shared", "peers", "bin");

afterEach(async () => {
  await stopAllFe();
  await stopAllDashboards();
});
afterAll(async () => {
  await stopAllEtcd();
  await stopAllZookeeper();
  await stopAllRedis();
});

const tmp = (): string => mkdtempSync(path.join(tmpdir(), "slotway-fe-"));

describe("slotway fe", () => {
  it("--dashboard-list: lists the products, serves the page, forwards each product's calls to its dashboard", async () => {
    const [alpha, beta] = await Promise.all([startDashboard({ product: "alpha" }), startDashboard({ product: "beta" })]);
    const list = path.join(tmp(), "dashboards.json");
    writeFileSync(list, JSON.stringify([{ name: "beta", dashboard: beta.addr }, { name: "alpha", dashboard: alpha.addr }, { name: "", dashboard: "x:1" }]));
    const fe = await startFe(["--dashboard-list", list]);

    const names = await httpRequest("GET", `${fe.base}/list`);
    expect([names.status, JSON.parse(names.text)]).toEqual([200, ["alpha", "beta"]]);
    const page = await httpRequest("GET", `${fe.base}/`);
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.text).toContain('<script type="module" src="app.js">');
    expect(JSON.parse((await httpRequest("GET", `${fe.base}/env.json`)).text)).toEqual({ mode: "fe" });
    // The same page under /ui/, as on a dashboard.
    expect((await httpRequest("GET", `${fe.base}/ui/`)).text).toBe(page.text);
    expect((await httpRequest("GET", `${fe.base}/ui/model.js`)).headers["content-type"]).toBe("text/javascript; charset=utf-8");
    const bare = await httpRequest("GET", `${fe.base}/ui`);
    expect([bare.status, bare.headers.location]).toEqual([302, "/ui/"]);

    // Forwarded: method, path and query; the dashboard's own status codes and bodies come back.
    const ov = await httpRequest("GET", `${fe.base}/topom?forward=beta`);
    expect(ov.status).toBe(200);
    expect(JSON.parse(ov.text).model.product_name).toBe("beta");
    const made = await httpRequest("PUT", `${fe.base}/api/topom/group/create/${xauth("beta")}/7?forward=beta`);
    expect([made.status, made.text]).toEqual([200, '"OK"']);
    expect((await beta.stats()).group.models.map((g) => g.id)).toEqual([7]);
    expect((await alpha.stats()).group.models).toEqual([]);
    const refused = await httpRequest("PUT", `${fe.base}/api/topom/group/create/${xauth("beta")}/7?forward=beta`);
    expect(refused.status).toBe(800);
    expect(JSON.parse(refused.text).Cause).toBe("group-[7] already exists");
    const wrongAuth = await httpRequest("PUT", `${fe.base}/api/topom/group/create/${xauth("alpha")}/8?forward=beta`);
    expect(JSON.parse(wrongAuth.text).Cause).toBe("invalid xauth, please check product name & auth");
    // The dashboard logs who called through fe.
    await until("API call logged with the forwarded address", () => /API call \/api\/topom\/group\/create\/\S+\/7 from 127\.0\.0\.1 \[127\.0\.0\.1\]/.test(beta.output()), 5000);

    // Unknown or missing product: 403, nothing forwarded.
    for (const q of ["?forward=gamma", ""]) {
      const r = await httpRequest("GET", `${fe.base}/topom${q}`);
      expect([r.status, r.text]).toEqual([403, ""]);
    }
    // No file outside the assets folder is served; such a path is just an unknown route.
    const escape = await httpRequest("GET", `${fe.base}/%2e%2e/package.json`);
    expect(escape.status).toBe(403);

    // The page through fe: pick a product, act on it.
    const b = await startBrowser();
    try {
      await b.page.goto(`${fe.base}/#beta`);
      await until("beta selected", async () => (await b.page.textContent("#product-name")) === "beta", 10_000, 50);
      expect(await b.page.locator("#product option").allTextContents()).toEqual(["alpha", "beta"]);
      expect(await b.page.getAttribute("#overview-link", "href")).toBe("/topom?forward=beta");
      await until("group 7 shown", async () => (await b.page.locator('#groups .group[data-key="7"]').count()) === 1, 10_000, 50);
      await b.page.selectOption("#product", "alpha");
      await until("alpha selected", async () => (await b.page.textContent("#product-name")) === "alpha", 10_000, 50);
      await until("beta's groups gone", async () => (await b.page.locator("#groups .group").count()) === 0, 10_000, 50);
      await b.page.fill('#f-create-group [name="gid"]', "3");
      await b.page.click("#f-create-group button[type=submit]");
      await until("create group 3 done", async () => (await b.page.locator("#activity li.ok", { hasText: "create group 3" }).count()) === 1, 10_000, 50);
      expect((await alpha.stats()).group.models.map((g) => g.id)).toEqual([3]);
      expect((await beta.stats()).group.models.map((g) => g.id)).toEqual([7]);
      expect(b.errors).toEqual([]);
    } finally {
      await b.close();
    }

    // A dashboard that went away: 502 from fe, as Go's reverse proxy answers.
    await alpha.stop();
    const gone = await httpRequest("GET", `${fe.base}/topom?forward=alpha`);
    expect(gone.status).toBe(502);
  }, 90_000);

  it("--filesystem: the products are the dashboards holding a lock in the store", async () => {
    const root = path.join(tmp(), "store");
    const [one, two] = await Promise.all([
      startDashboard({ product: "one", storeDir: root }),
      startDashboard({ product: "two", storeDir: root }),
    ]);
    const pidfile = path.join(tmp(), "fe.pid");
    const fe = await startFe(["--filesystem", root, "--pidfile", pidfile, "--ncpu", "2"]);
    expect(JSON.parse((await httpRequest("GET", `${fe.base}/list`)).text)).toEqual(["one", "two"]);
    expect(readFileSync(pidfile, "utf8")).toBe(`${fe.proc.pid}\n`);
    for (const [name, d] of [["one", one], ["two", two]] as const) {
      const r = await httpRequest("GET", `${fe.base}/topom/model?forward=${name}`);
      expect(JSON.parse(r.text).admin_addr).toBe(d.addr);
    }
    // A clean stop removes the pid file.
    expect(await fe.stop()).toBe(0);
    expect(existsSync(pidfile)).toBe(false);
  }, 60_000);

  it("--etcd: the products of dashboards whose coordinator is etcd", async () => {
    const etcd = await startEtcd();
    const d = await startDashboard({ product: "inetcd", config: { coordinator_name: "etcd", coordinator_addr: etcd.addr } });
    const fe = await startFe(["--etcd", etcd.addr]);
    expect(JSON.parse((await httpRequest("GET", `${fe.base}/list`)).text)).toEqual(["inetcd"]);
    const r = await httpRequest("GET", `${fe.base}/api/topom/xping/${xauth("inetcd")}?forward=inetcd`);
    expect([r.status, r.text]).toEqual([200, '"OK"']);
    expect(d.addr).toBe(JSON.parse((await httpRequest("GET", `${fe.base}/topom/model?forward=inetcd`)).text).admin_addr);
  }, 60_000);

  it("--zookeeper and --etcdv2: the products of dashboards kept where codis keeps them", async () => {
    const [zk, etcd] = await Promise.all([startZookeeper(), startEtcd()]);
    const [inZk, inV2] = await Promise.all([
      startDashboard({ product: "inzk", config: { coordinator_name: "zookeeper", coordinator_addr: zk.addr } }),
      startDashboard({ product: "inv2", config: { coordinator_name: "etcdv2", coordinator_addr: etcd.addr } }),
    ]);
    for (const [flag, addr, name, d] of [["--zookeeper", zk.addr, "inzk", inZk], ["--etcdv2", etcd.addr, "inv2", inV2]] as const) {
      const fe = await startFe([flag, addr]);
      expect(JSON.parse((await httpRequest("GET", `${fe.base}/list`)).text)).toEqual([name]);
      const r = await httpRequest("PUT", `${fe.base}/api/topom/group/create/${xauth(name)}/4?forward=${name}`);
      expect([r.status, r.text]).toEqual([200, '"OK"']);
      expect((await d.stats()).group.models.map((g) => g.id)).toEqual([4]);
      await fe.stop();
    }
    // The etcd v3 keys are apart from v2's: fe --etcd does not see a product kept through v2.
    const v3 = await startFe(["--etcd", etcd.addr]);
    expect(JSON.parse((await httpRequest("GET", `${v3.base}/list`)).text)).toEqual([]);
  }, 90_000);

  it("in front of a real codis-dashboard (codis 3.2.2): the page shows codis's stats and acts on them", async () => {
    const server = await startRedis({ bin: path.join(PEERS, "codis-server") });
    const dir = tmp();
    const port = await freePort();
    const addr = `127.0.0.1:${port}`;
    const cfg = path.join(dir, "dashboard.toml");
    writeFileSync(cfg, [
      `coordinator_name = "filesystem"`, `coordinator_addr = ${JSON.stringify(path.join(dir, "store"))}`,
      `product_name = "codisp"`, `product_auth = ""`, `admin_addr = "${addr}"`, "",
    ].join("\n"));
    const codis = spawn(path.join(PEERS, "codis-dashboard"), [`--config=${cfg}`, "--log-level=WARN", `--log=${path.join(dir, "dashboard.log")}`], { stdio: "ignore" });
    try {
      const X = xauth("codisp");
      await until("codis-dashboard online", async () => (await httpRequest("GET", `http://${addr}/topom`)).status === 200, 15_000, 100);
      const fe = await startFe(["--filesystem", path.join(dir, "store")]);
      expect(JSON.parse((await httpRequest("GET", `${fe.base}/list`)).text)).toEqual(["codisp"]);
      const b = await startBrowser();
      try {
        await b.page.goto(`${fe.base}/`);
        await until("codisp shown", async () => (await b.page.textContent("#product-name")) === "codisp", 10_000, 50);
        await b.page.fill('#f-create-group [name="gid"]', "1");
        await b.page.click("#f-create-group button[type=submit]");
        await until("group created", async () => (await b.page.locator("#activity li.ok", { hasText: "create group 1" }).count()) === 1, 10_000, 50);
        await b.page.fill('#f-add-server [name="gid"]', "1");
        await b.page.fill('#f-add-server [name="addr"]', server.addr);
        await b.page.click("#f-add-server button[type=submit]");
        await until("server added", async () => (await b.page.locator("#activity li.ok", { hasText: `add ${server.addr} to group 1` }).count()) === 1, 10_000, 50);
        const stats = JSON.parse((await httpRequest("GET", `http://${addr}/api/topom/stats/${X}`)).text);
        expect(stats.group.models.map((g: { id: number; servers: { server: string }[] }) => [g.id, g.servers.map((x) => x.server)])).toEqual([[1, [server.addr]]]);
        // codis reports the server's INFO (codis-server is Redis 3.2.11 to INFO) and no migration counters.
        const row = `#groups .group[data-key="1"] tr[data-key="${server.addr}"]`;
        await until("server row filled from INFO", async () => /redis 3\.2\.11\s*master/.test((await b.page.textContent(row)) ?? ""), 10_000, 50);
        expect(await b.page.textContent("#mig-keys-moved")).toBe("—");
        expect(await b.page.textContent("#mig-headline")).toBe("No slot is moving.");
        expect(b.errors).toEqual([]);
      } finally {
        await b.close();
      }
    } finally {
      codis.kill("SIGKILL");
      await stopAllRedis();
    }
  }, 60_000);

  it("bad command lines exit 2 with the reason; --help prints the usage", async () => {
    const none = await runFeToExit(["--listen", "127.0.0.1:0"]);
    expect(none.code).toBe(2);
    expect(none.output).toContain("one of --dashboard-list, --filesystem, --etcd, --etcdv2 or --zookeeper is required");
    const two = await runFeToExit(["--listen", "127.0.0.1:0", "--filesystem", "/x", "--dashboard-list", "/y"]);
    expect(two.code).toBe(2);
    expect(two.output).toContain("--dashboard-list and --filesystem exclude each other");
    const noListen = await runFeToExit(["--dashboard-list", "/y"]);
    expect([noListen.code, noListen.output.split("\n")[0]]).toEqual([2, "slotway fe: --listen ADDR is required"]);
    const badListen = await runFeToExit(["--listen", "nowhere", "--dashboard-list", "/y"]);
    expect(badListen.output).toContain("invalid --listen nowhere");
    const help = await runFeToExit(["--help"]);
    expect(help.code).toBe(0);
    expect(help.output).toContain("Usage: slotway fe --listen ADDR (--dashboard-list FILE | --filesystem ROOT | --etcd ADDR | --etcdv2 ADDR |");
  }, 60_000);
});

describe("the console on the dashboard", () => {
  it("serves its files under /ui/ with their types and keeps every codis route", async () => {
    const d = await startDashboard();
    const base = `http://${d.addr}`;
    const index = await httpRequest("GET", `${base}/ui/`);
    expect([index.status, index.headers["content-type"]]).toEqual([200, "text/html; charset=utf-8"]);
    const js = await httpRequest("GET", `${base}/ui/app.js`);
    expect([js.status, js.headers["content-type"]]).toEqual([200, "text/javascript; charset=utf-8"]);
    const css = await httpRequest("HEAD", `${base}/ui/console.css`);
    expect([css.status, css.headers["content-type"], css.text]).toEqual([200, "text/css; charset=utf-8", ""]);
    expect(JSON.parse((await httpRequest("GET", `${base}/ui/env.json`)).text)).toEqual({ mode: "dashboard" });
    for (const p of ["/ui/nothing.js", "/ui/%2e%2e%2fpackage.json", "/ui/..%2F..%2Fpackage.json", "/ui/.hidden"]) {
      const r = await httpRequest("GET", base + p);
      expect([p, r.status, r.text]).toEqual([p, 404, "404 page not found\n"]);
    }
    const root = await httpRequest("GET", `${base}/`);
    expect([root.status, root.headers.location]).toEqual([302, "/topom"]);
    const ov = JSON.parse((await httpRequest("GET", `${base}/topom`)).text);
    expect(ov.stats.slot_action.progress).toEqual({
      status: "", slots_left: 0, slots_done: 0, keys_moved: 0, keys_per_sec: 0, slots_per_sec: 0, eta_secs: 0,
      run_started: 0, run_secs: 0, running: false,
    });
  }, 30_000);
});
