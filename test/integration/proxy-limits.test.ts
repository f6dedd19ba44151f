// Bad input, limits and access control: a clear RESP error or a clean close, never a crash
// or a hang, and the proxy keeps serving everyone else.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawnSync } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { startSlotway, stopAllSlotway, CLI, type Slotway } from "../harness/slotway.js";
import { RawClient } from "../harness/resp-client.js";
import { encodeCommand } from "../../src/core/resp-encoder.js";

let g1: RedisServer;
let proxy: Slotway;

beforeAll(async () => {
  g1 = await startRedis({ password: "backend-secret" });
  proxy = await startSlotway({
    groups: [{ id: 1, servers: [g1.addr], slots: "0-1000" }], // 1001-1023 stay offline
    config: {
      product_auth: "backend-secret",
      session_auth: "client-secret",
      session_max_args: 100,
      session_max_bulk_len: "1kb",
      session_max_inline_len: "64b",
      session_max_pipeline: 8,
      proxy_max_clients: 20,
    },
  });
});

afterAll(async () => {
  await stopAllSlotway();
  await stopAllRedis();
});

async function authed(): Promise<RawClient> {
  const c = await RawClient.connect(proxy.port);
  expect(await c.call("AUTH", "client-secret")).toBe("+OK\r\n");
  return c;
}

describe("access", () => {
  it("gates every command behind AUTH and speaks to backends with product_auth", async () => {
    const c = await RawClient.connect(proxy.port);
    expect(await c.call("GET", "a")).toBe("-NOAUTH Authentication required\r\n");
    expect(await c.call("AUTH", "wrong")).toBe("-ERR invalid password\r\n");
    expect(await c.call("GET", "a")).toBe("-NOAUTH Authentication required\r\n");
    expect(await c.call("AUTH", "client-secret")).toBe("+OK\r\n");
    expect(await c.call("SET", "a", "1")).toBe("+OK\r\n"); // the backend requires its password
    expect(await c.call("GET", "a")).toBe("$1\r\n1\r\n");
    c.close();
  });

  it("answers a slot without a group with codis's text", async () => {
    const c = await authed();
    // "{x1}" is in slot > 1000 when its tag hashes there; find one.
    let key = "";
    for (let i = 0; !key; i++) {
      const k = `off${i}`;
      const slot = Number((await c.call("SLOTSHASHKEY", k)).split("\r\n")[1]!.slice(1));
      if (slot > 1000) key = k;
    }
    expect(await c.call("GET", key)).toBe("-ERR handle request, slot is not ready, may be offline\r\n");
    c.close();
  });
});

describe("bad input", () => {
  it("answers a protocol error then closes, and other clients carry on", async () => {
    const cases: [string, string][] = [
      ["*1\r\n+PING\r\n", "-ERR Protocol error: expected '$', got '+'\r\n"],
      ["*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n"],
      [`*101\r\n`, "-ERR Protocol error: invalid multibulk length\r\n"],
      ["*2\r\n$3\r\nGET\r\n$1025\r\n", "-ERR Protocol error: invalid bulk length\r\n"],
      ["x".repeat(100), "-ERR Protocol error: too big inline request\r\n"],
      ['GET "unbalanced\r\n', "-ERR Protocol error: unbalanced quotes in request\r\n"],
    ];
    for (const [input, reply] of cases) {
      const c = await RawClient.connect(proxy.port);
      c.write(input);
      const frames = await c.readUntilClose(5000);
      expect(frames.map(String), JSON.stringify(input)).toEqual([reply]);
    }
    const ok = await authed();
    expect(await ok.call("PING")).toBe("+PONG\r\n");
    ok.close();
  });

  it("delivers replies already owed before the protocol error", async () => {
    const c = await authed();
    c.write(Buffer.concat([encodeCommand(["SET", "k", "v"]), encodeCommand(["GET", "k"]), Buffer.from("*x\r\n")]));
    const frames = await c.readUntilClose(5000);
    expect(frames.map(String)).toEqual(["+OK\r\n", "$1\r\nv\r\n", "-ERR Protocol error: invalid multibulk length\r\n"]);
  });

  it("survives random garbage from many clients", async () => {
    const clients = await Promise.all(Array.from({ length: 10 }, () => RawClient.connect(proxy.port)));
    for (const c of clients) {
      const junk = Buffer.alloc(2000);
      for (let i = 0; i < junk.length; i++) junk[i] = (Math.random() * 256) | 0;
      c.write(junk);
    }
    await Promise.all(clients.map((c) => c.readUntilClose(5000).catch(() => c.close())));
    const ok = await authed();
    expect(await ok.call("PING")).toBe("+PONG\r\n");
    ok.close();
  });
});

describe("limits", () => {
  it("stops reading a client past session_max_pipeline instead of dropping it", async () => {
    const c = await authed();
    const n = 1000;
    const parts: Buffer[] = [];
    for (let i = 0; i < n; i++) parts.push(encodeCommand(["INCR", "pipe-counter"]));
    c.write(Buffer.concat(parts));
    const replies = await c.read(n, 30_000);
    replies.forEach((r, i) => expect(r.toString()).toBe(`:${i + 1}\r\n`));
    c.close();
  });

  it("refuses clients over proxy_max_clients with codis's text", async () => {
    const held = await Promise.all(Array.from({ length: 20 }, () => RawClient.connect(proxy.port)));
    // Make sure every held connection is registered before the extra one.
    await Promise.all(held.map(async (c) => expect(await c.call("PING")).toBe("-NOAUTH Authentication required\r\n")));
    const extra = await RawClient.connect(proxy.port);
    expect((await extra.readUntilClose(5000)).map(String)).toEqual(["-ERR max number of clients reached\r\n"]);
    for (const c of held) c.close();
    // Slots free up again.
    await new Promise((r) => setTimeout(r, 200));
    const again = await authed();
    again.close();
  });
});

describe("configuration errors", () => {
  it("exits with code 2 and names the key", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "slotway-badconf-"));
    const file = path.join(dir, "bad.toml");
    writeFileSync(file, 'session_max_pipeline = 0\n');
    const r = spawnSync(process.execPath, [CLI, "proxy", "--config", file], { encoding: "utf8", timeout: 10_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("invalid session_max_pipeline: must be ≥ 1");
    writeFileSync(file, 'proxy_addr = 1\n');
    const r2 = spawnSync(process.execPath, [CLI, "proxy", "--config", file], { encoding: "utf8", timeout: 10_000 });
    expect(r2.status).toBe(2);
    expect(r2.stderr).toContain("invalid proxy_addr");
    // Without --config the proxy runs on codis's defaults, as codis-proxy does; a bad flag is a usage error.
    const r3 = spawnSync(process.execPath, [CLI, "proxy", "--no-such-flag"], { encoding: "utf8", timeout: 10_000 });
    expect(r3.status).toBe(2);
    expect(r3.stderr).toContain("--no-such-flag");
    const help = spawnSync(process.execPath, [CLI, "--help"], { encoding: "utf8", timeout: 10_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("slotway proxy [--config FILE]");
  });
});
