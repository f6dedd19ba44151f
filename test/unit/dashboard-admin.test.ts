// `slotway admin` against a running dashboard (MemoryStore, scripted codis-servers).
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { runAdmin } from "../../src/control/admin-cli.js";
import { dashboardRouter } from "../../src/control/dashboard/api.js";
import { defaultConfig } from "../../src/control/dashboard/config.js";
import { silentLogger } from "../../src/control/dashboard/log.js";
import { Topom } from "../../src/control/dashboard/topom.js";
import type { RedisConn, RedisConnector } from "../../src/control/movers/index.js";
import { MemoryStore } from "../../src/control/store/store.js";
import { startCodisServer, type CodisServer } from "../harness/codis-server.js";

const connect: RedisConnector = async (addr, opts = {}) => {
  const i = addr.lastIndexOf(":");
  const r = new Redis({
    host: addr.slice(0, i), port: Number(addr.slice(i + 1)), password: opts.password, lazyConnect: true,
    connectTimeout: opts.timeoutMs ?? 2000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false,
  });
  r.on("error", () => undefined);
  await r.connect();
  const norm = (a: (string | number | Buffer)[]): (string | Buffer)[] => a.map((x) => (typeof x === "number" ? String(x) : x));
  const conn: RedisConn = {
    call: (...a) => r.call(String(a[0]), ...norm(a.slice(1))),
    callBuffer: (...a) => r.callBuffer(String(a[0]), ...norm(a.slice(1))),
    close: () => r.disconnect(),
  };
  return conn;
};

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function dashboard(): Promise<string> {
  const config = { ...defaultConfig(), product_name: "admin-test", admin_addr: "127.0.0.1:0" };
  const t = new Topom({ config, store: new MemoryStore(), connect, log: silentLogger, statsIntervalMs: 50, engine: { idleMs: 20, retryMs: 100 } });
  await t.listen(dashboardRouter(t).listener());
  await t.start();
  cleanup.push(() => t.close());
  return t.model.admin_addr;
}

async function server(): Promise<CodisServer> {
  const s = await startCodisServer();
  cleanup.push(() => s.close());
  return s;
}

async function admin(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runAdmin(argv, { out: (t) => { out += t; }, err: (t) => { err += t; } });
  return { code, out, err };
}

describe("slotway admin", () => {
  it("--help, missing --dashboard, unknown options", async () => {
    const h = await admin("--help");
    expect(h.code).toBe(0);
    expect(h.out).toContain("--slot-action --create-range --beg=ID --end=ID --gid=ID");
    expect((await admin("--create-group")).code).toBe(2);
    expect((await admin("--dashboard=127.0.0.1:1", "--frobnicate=1", "extra")).code).toBe(2);
  });

  it("builds a cluster with codis-admin's flags and prints codis-admin's output", async () => {
    const d = await dashboard();
    const a = await server();
    const b = await server();
    expect((await admin(`--dashboard=${d}`, "--create-group", "--gid=1")).code).toBe(0);
    expect((await admin("--dashboard", d, "--create-group", "--gid", "2")).code).toBe(0);
    expect((await admin(`--dashboard=${d}`, "--group-add", "--gid=1", `--addr=${a.addr}`)).code).toBe(0);
    expect((await admin(`--dashboard=${d}`, "--group-add", "-g", "2", "-x", b.addr, "--datacenter=dc2")).code).toBe(0);

    const dup = await admin(`--dashboard=${d}`, "--create-group", "--gid=1");
    expect(dup.code).toBe(1);
    expect(dup.err).toBe(`call rpc create-group to dashboard ${d} failed\n[Remote Error] group-[1] already exists\n`);

    const preview = await admin(`--dashboard=${d}`, "--slots-assign", "--beg=0", "--end=1", "--gid=1");
    expect(JSON.parse(preview.out)).toEqual([{ id: 0, group_id: 1, action: {} }, { id: 1, group_id: 1, action: {} }]);
    expect((await admin(`--dashboard=${d}`, "--slots-assign", "--beg=0", "--end=1023", "--gid=1", "--confirm")).code).toBe(0);

    const reb = await admin(`--dashboard=${d}`, "--rebalance");
    expect(reb.out).toBe("[0512,1023] => 2\ndone\n");

    const slots = JSON.parse((await admin(`--dashboard=${d}`, "--slots-status")).out);
    expect(slots.length).toBe(1024);
    expect(slots[0]).toMatchObject({ id: 0, backend_addr: a.addr });

    expect((await admin(`--dashboard=${d}`, "--slot-action", "--create-range", "--beg=1000", "--end=1023", "--gid=2")).code).toBe(0);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const o = JSON.parse((await admin(`--dashboard=${d}`, "slots")).out) as { group_id: number }[];
      if (o.slice(1000).every((m) => m.group_id === 2)) break;
      if (Date.now() > deadline) throw new Error("migration did not finish");
      await new Promise((r) => setTimeout(r, 50));
    }

    const groups = JSON.parse((await admin(`--dashboard=${d}`, "--list-group")).out);
    expect(groups.map((g: { id: number }) => g.id)).toEqual([1, 2]);
    const overview = JSON.parse((await admin(`--dashboard=${d}`)).out);
    expect(Object.keys(overview)).toEqual(["version", "compile", "config", "model", "stats"]);
    expect(JSON.parse((await admin(`--dashboard=${d}`, "config")).out).product_name).toBe("admin-test");

    // group-status: one line per server, its kind and version, with the replication it sees
    for (;;) {
      const gs = await admin(`--dashboard=${d}`, "--group-status");
      if (!gs.out.includes("[?]")) {
        expect(gs.out).toBe(`[ ] group-1 [0] ${a.addr} codis-server 3.2.11      ==> NO:ONE\n[ ] group-2 [0] ${b.addr} codis-server 3.2.11      ==> NO:ONE\n`);
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await admin(`--dashboard=${d}`, "--proxy-status")).out).toBe("");
    const rm = await admin(`--dashboard=${d}`, "--remove-proxy", "--addr=127.0.0.1:1");
    expect(rm.code).toBe(1);
    expect(rm.err).toBe("can't find specific proxy with addr = 127.0.0.1:1\n");
    expect((await admin(`--dashboard=${d}`, "--remove-proxy", "--addr=127.0.0.1:1", "--force")).code).toBe(0);
    expect((await admin(`--dashboard=${d}`, "--slot-action", "--interval=100")).code).toBe(0);
    expect((await admin(`--dashboard=${d}`, "--log-level=bogus")).code).toBe(2);
    expect((await admin(`--dashboard=${d}`, "--log-level=warning")).code).toBe(0);
  });

  it("an unreachable dashboard fails at the model call", async () => {
    const r = await admin("--dashboard=127.0.0.1:1", "--create-group", "--gid=1");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^call rpc model to dashboard 127\.0\.0\.1:1 failed\n/);
  });
});
