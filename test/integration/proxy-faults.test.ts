// Faults found by probing (issue 10), each with a test that failed before its fix: backoff and
// error text with a wrong product_auth, a stale last error after a reconnect, the client count
// after a worker crash, and the admin secret.
import { describe, it, expect, afterAll } from "vitest";
import { startRedis, stopAllRedis } from "../harness/redis.js";
import { startSlotway, stopAllSlotway } from "../harness/slotway.js";
import { RawClient } from "../harness/resp-client.js";
import { ProxyAdmin, httpRequest, clientsOnEachWorker, until, sleep } from "../harness/admin.js";
import { slotOfKey } from "../../src/core/slot.js";
import { exposureWarning, isLoopbackHost, SECRET_HEADER } from "../../src/control/admin-secret.js";
import { startDashboard, stopAllDashboards } from "../harness/dashboard.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

// The crash hook of the proxy and its workers (src/control/proxy.ts, src/workers/worker.ts).
process.env.SLOTWAY_TEST_HOOKS = "1";

afterAll(async () => {
  await stopAllDashboards();
  await stopAllSlotway();
  await stopAllRedis();
});

/** Connections redis-server has accepted so far (INFO stats). */
async function connectionsReceived(r: { command(...a: string[]): Promise<string> }): Promise<number> {
  const info = await r.command("INFO", "stats");
  const m = /total_connections_received:(\d+)/.exec(info);
  if (!m) throw new Error(`no total_connections_received in ${info}`);
  return Number(m[1]);
}

const lines = (text: string, re: RegExp) => text.split("\n").filter((l) => re.test(l));

describe("backend connection faults", () => {
  it("a wrong product_auth: capped backoff, one log line per state change, and the client is told why", async () => {
    const redis = await startRedis({ password: "right" });
    const proxy = await startSlotway({
      workers: 1,
      groups: [{ id: 1, servers: [redis.addr], slots: "0-1023" }],
      config: { product_auth: "wrong", log_level: "info" },
    });
    const c = await RawClient.connect(proxy.port);
    const reply = await c.call("GET", "k");
    // The backend's own answer, the backend and the slot; not "backend conn reset".
    expect(reply).toMatch(new RegExp(`^-ERR handle response, backend conn failure, setup failed, WRONGPASS .*\\(backend ${redis.addr.replace(/\./g, "\\.")}, slot ${slotOfKey("k")}\\)\r\n$`));
    expect(reply).not.toMatch(/reset/);

    const before = await connectionsReceived(redis);
    await sleep(4000);
    const attempts = (await connectionsReceived(redis)) - before - 1; // minus our INFO connection
    // Backoff 50 ms doubling to 3 s: a handful of attempts in 4 s. Before the fix every AUTH
    // reply reset it to 50 ms: about 60 attempts.
    expect(attempts).toBeGreaterThanOrEqual(1);
    expect(attempts).toBeLessThan(12);
    // One WARN for the failure, not two per attempt.
    const warns = lines(proxy.output(), /WARN .*backend .*WRONGPASS/);
    expect(warns.length).toBe(1);
    expect(warns[0]).toMatch(/cannot connect, setup failed, WRONGPASS/);

    // The password is fixed on the server: the proxy comes up, says so once, and serves.
    await redis.command("CONFIG", "SET", "requirepass", "wrong");
    await until("the proxy to reconnect with the now right password", async () => (await c.call("SET", "k", "v")) === "+OK\r\n", 10_000, 200);
    expect(await c.call("GET", "k")).toBe("$1\r\nv\r\n");
    expect(lines(proxy.output(), /INFO .*connected after \d+ failed attempt/).length).toBe(1);
    c.close();
    await proxy.stop();
  }, 40_000);

  it("a reconnected backend forgets the error of its earlier failure", async () => {
    const redis = await startRedis({ password: "right" });
    const proxy = await startSlotway({
      workers: 1,
      groups: [{ id: 1, servers: [redis.addr], slots: "0-1023" }],
      config: { product_auth: "wrong", log_level: "info" },
    });
    const c = await RawClient.connect(proxy.port);
    expect(await c.call("GET", "k")).toMatch(/WRONGPASS/);
    await redis.command("CONFIG", "SET", "requirepass", "wrong");
    await until("the proxy to reconnect", async () => (await c.call("SET", "k", "v")) === "+OK\r\n", 10_000, 200);
    // The server closes the proxy's connection cleanly (no socket error on the proxy's side):
    // the reason logged and given to clients must be this close, not the old WRONGPASS.
    const r = await RawClient.connect(redis.port);
    expect(await r.call("AUTH", "wrong")).toBe("+OK\r\n");
    expect(await r.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")).toMatch(/^:[1-9]/);
    r.close();
    const lost = await until("the lost connection to be logged", () => lines(proxy.output(), /WARN .*connection lost/)[0], 5000);
    expect(lost).toMatch(/connection lost, connection closed by backend/);
    expect(lost).not.toMatch(/WRONGPASS/);
    await until("the proxy to serve again", async () => (await c.call("GET", "k")) === "$1\r\nv\r\n", 10_000, 100);
    c.close();
    await proxy.stop();
  }, 40_000);
});

describe("worker crash", () => {
  it("a crashed worker's clients leave the shared count: proxy_max_clients admits as many as before, and the worker is restarted", async () => {
    const redis = await startRedis();
    const proxy = await startSlotway({
      workers: 2,
      groups: [{ id: 1, servers: [redis.addr], slots: "0-1023" }],
      config: { proxy_max_clients: 4, log_level: "warn" },
    });
    const admin = await new ProxyAdmin(proxy.adminAddr).init();
    // Two clients on each worker: the proxy is full.
    const [w0, w1] = await placeClients(proxy.port, admin, 2);
    const full = await RawClient.connect(proxy.port);
    expect((await full.readUntilClose(5000)).map(String)).toEqual(["-ERR max number of clients reached\r\n"]);

    // Worker 1 crashes and takes its two clients with it.
    const r = await admin.call("PUT", "debug/crash/{x}/1");
    expect(r.status).toBe(200);
    await w1![0]!.readUntilClose(5000);
    await w1![1]!.readUntilClose(5000);
    await until("worker 1 to be restarted", () => /worker 1 exited with code 70; restarting it/.test(proxy.output()), 10_000);

    // Two places are free again (before the fix none was: the dead worker's clients stayed
    // counted, and every new client was refused).
    const kept: RawClient[] = [];
    for (let i = 0; i < 2; i++) {
      const c = await RawClient.connect(proxy.port);
      expect(await c.call("PING")).toBe("+PONG\r\n");
      kept.push(c);
    }
    // And the limit still holds: four clients are in, the fifth is refused.
    const fifth = await RawClient.connect(proxy.port);
    expect((await fifth.readUntilClose(5000)).map(String)).toEqual(["-ERR max number of clients reached\r\n"]);
    // The restarted worker 1 serves clients: free one place and connect until one lands there.
    kept.pop()!.close();
    await until("a client on the restarted worker 1", async () => {
      await until("a free place", async () => (await admin.stats()).sessions.alive < 4, 5000);
      const c = await RawClient.connect(proxy.port);
      const m = /\$2\r\nid\r\n:(\d+)\r\n/.exec(await c.call("HELLO", "2"));
      const onWorker1 = m !== null && Math.floor(Number(m[1]) / 1e9) === 1;
      c.close();
      return onWorker1;
    }, 20_000, 0);
    for (const c of [...w0!, ...kept]) c.close();
    await proxy.stop();
  }, 60_000);

  it("worker 0 is restarted too, and both workers keep accepting (each listens on a descriptor of its own)", async () => {
    const redis = await startRedis();
    const proxy = await startSlotway({ workers: 2, groups: [{ id: 1, servers: [redis.addr], slots: "0-1023" }] });
    const admin = await new ProxyAdmin(proxy.adminAddr).init();
    for (const index of [0, 1, 0]) {
      const [mine] = (await clientsOnEachWorker(proxy.port, 1, 2)).splice(index, 1);
      expect((await admin.call("PUT", `debug/crash/{x}/${index}`)).status).toBe(200);
      await mine![0]!.readUntilClose(5000);
      // Before each worker had its own descriptor, the dead worker closed the shared one and
      // nobody accepted any more (ECONNREFUSED here).
      const each = await until(`worker ${index} to accept again`, () => clientsOnEachWorker(proxy.port, 1, 2), 15_000, 100);
      for (const l of each) {
        expect(await l[0]!.call("SET", "k", String(index))).toBe("+OK\r\n");
        l[0]!.close();
      }
    }
    expect(lines(proxy.output(), /exited with code 70; restarting it/).length).toBe(3);
    expect(proxy.proc.exitCode).toBeNull();
    await proxy.stop();
  }, 60_000);
});

describe("admin secret", () => {
  it("admin_secret guards the changing routes; reading routes and codis's xauth scheme are unchanged", async () => {
    const proxy = await startSlotway({ workers: 1, config: { admin_secret: "s3cret" } });
    const admin = await new ProxyAdmin(proxy.adminAddr).init();
    // Reading routes: the xauth is enough, as in codis.
    expect((await admin.call("GET", "xping/{x}")).status).toBe(200);
    expect((await admin.call("GET", "stats/{x}")).status).toBe(200);
    // Changing routes: the xauth alone is refused, with codis's error shape (status 800).
    const url = `${admin.base}/api/proxy/loglevel/${admin.xauth}/debug`;
    const none = await httpRequest("PUT", url);
    expect(none.status).toBe(800);
    expect(JSON.parse(none.text).Cause).toMatch(/missing admin secret/);
    const wrong = await httpRequestWith("PUT", url, { [SECRET_HEADER]: "guess" });
    expect(wrong.status).toBe(800);
    expect(JSON.parse(wrong.text).Cause).toBe("invalid admin secret");
    const shutdown = await httpRequest("PUT", `${admin.base}/api/proxy/shutdown/${admin.xauth}`);
    expect(shutdown.status).toBe(800);
    // The secret and the xauth together work; a wrong xauth with the secret does not.
    expect((await httpRequestWith("PUT", url, { [SECRET_HEADER]: "s3cret" })).status).toBe(200);
    expect((await httpRequestWith("PUT", `${admin.base}/api/proxy/loglevel/0123/debug`, { [SECRET_HEADER]: "s3cret" })).status).toBe(800);
    // The secret never appears in the config the API shows.
    const overview = await httpRequest("GET", `${admin.base}/proxy`);
    expect(overview.text).not.toMatch(/s3cret|admin_secret/);
    expect(proxy.proc.exitCode).toBeNull();
    expect(proxy.output()).not.toMatch(/UNPROTECTED ADMIN API/); // loopback admin_addr
    await proxy.stop();
  });

  it("without admin_secret, the xauth alone still drives the proxy (codis-dashboard compatibility)", async () => {
    const proxy = await startSlotway({ workers: 1 });
    const admin = await new ProxyAdmin(proxy.adminAddr).init();
    expect((await admin.call("PUT", "loglevel/{x}/debug")).status).toBe(200);
    expect((await admin.call("PUT", "stats/reset/{x}")).status).toBe(200);
    await proxy.stop();
  });

  it("slotway's dashboard drives proxies that have an admin_secret when it is given the same proxy_admin_secret", async () => {
    const store = mkdtempSync(path.join(tmpdir(), "slotway-secret-store-"));
    const d = await startDashboard({ product: "sec", storeDir: store, config: { proxy_admin_secret: "s3cret" }, args: [] });
    const good = await startSlotway({ workers: 1, config: { product_name: "sec", admin_secret: "s3cret" }, args: ["--dashboard", d.addr] });
    const bad = await startSlotway({ workers: 1, config: { product_name: "sec", admin_secret: "another" }, args: ["--dashboard", d.addr] });
    await until("the proxy with the dashboard's secret to be online", async () => {
      const r = await httpRequest("GET", `http://${good.adminAddr}/proxy/stats`);
      return (JSON.parse(r.text) as { online: boolean }).online;
    }, 20_000, 200);
    // The other one refuses the dashboard (its admin API answers "invalid admin secret" to
    // fillslots, which the dashboard reports as codis does: "fillslots failed").
    await until("the refusal to be logged", () => /online with dashboard .* failed: .*fillslots failed/.test(bad.output()), 20_000, 200).catch((e) => { throw new Error(`${e}\n${bad.output()}\n${d.output()}`); });
    const r = await httpRequest("GET", `http://${bad.adminAddr}/proxy/stats`);
    expect((JSON.parse(r.text) as { online: boolean }).online).toBe(false);
    await good.stop();
    await bad.stop();
    await d.stop();
  }, 60_000);

  it("warns loudly when the admin API is reachable from other hosts with only a public xauth", () => {
    expect(exposureWarning("0.0.0.0:11080", "", "")).toMatch(/^UNPROTECTED ADMIN API: admin_addr 0\.0\.0\.0:11080/);
    expect(exposureWarning("[::]:11080", "", "")).toMatch(/UNPROTECTED/);
    expect(exposureWarning(":11080", "", "")).toMatch(/UNPROTECTED/);
    expect(exposureWarning("10.1.2.3:11080", "", "")).toMatch(/UNPROTECTED/);
    expect(exposureWarning("0.0.0.0:11080", "pw", "")).toBeNull();
    expect(exposureWarning("0.0.0.0:11080", "", "s")).toBeNull();
    expect(exposureWarning("127.0.0.1:11080", "", "")).toBeNull();
    expect(exposureWarning("[::1]:11080", "", "")).toBeNull();
    expect(exposureWarning("localhost:11080", "", "")).toBeNull();
    expect(isLoopbackHost("127.8.9.10")).toBe(true);
    expect(isLoopbackHost("128.0.0.1")).toBe(false);
  });
});

/**
 * Opens clients until each of two workers holds n, waiting after each extra one is closed
 * until the proxy counted it out (so a full proxy never refuses one of ours).
 */
async function placeClients(port: number, admin: ProxyAdmin, n: number): Promise<RawClient[][]> {
  const by: RawClient[][] = [[], []];
  for (let tries = 0; by[0]!.length < n || by[1]!.length < n; tries++) {
    if (tries > 200) throw new Error(`could not place ${n} clients on each worker`);
    const c = await RawClient.connect(port);
    const hello = await c.call("HELLO", "2");
    const m = /\$2\r\nid\r\n:(\d+)\r\n/.exec(hello);
    if (!m) throw new Error(`HELLO reply without an id: ${JSON.stringify(hello)}`);
    const list = by[Math.floor(Number(m[1]) / 1e9)]!;
    if (list.length < n) {
      list.push(c);
      continue;
    }
    c.close();
    const held = by[0]!.length + by[1]!.length;
    await until("the extra client to be counted out", async () => (await admin.stats()).sessions.alive === held, 5000);
  }
  return by;
}

/** httpRequest with extra headers. */
function httpRequestWith(method: string, url: string, headers: Record<string, string>) {
  return import("node:http").then(({ default: http }) => new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = http.request(url, { method, agent: false, timeout: 10_000, headers: { "Content-Length": 0, ...headers } });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
    });
    req.end();
  }));
}
