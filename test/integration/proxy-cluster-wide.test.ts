// Commands about the whole keyspace (src/workers/cluster-wide.ts) and CLIENT answered by the
// proxy (src/workers/client-cmd.ts), in front of two real redis-servers.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { startSlotway, stopAllSlotway, type Slotway, twoGroups } from "../harness/slotway.js";
import { RawClient } from "../harness/resp-client.js";
import { ProxyAdmin } from "../harness/admin.js";
import { decodeReply } from "../../src/core/resp-decoder.js";
import { slotOfKey } from "../../src/core/slot.js";

let g1: RedisServer, g2: RedisServer, ref: RedisServer;
let proxy: Slotway, openProxy: Slotway;
const open: RawClient[] = [];

beforeAll(async () => {
  [g1, g2, ref] = await Promise.all([startRedis(), startRedis(), startRedis()]);
  const groups = twoGroups(g1.addr, g2.addr);
  [proxy, openProxy] = await Promise.all([
    startSlotway({ groups }),
    startSlotway({ groups, config: { proxy_allow_keys: true, proxy_allow_flushdb: true, proxy_allow_flushall: true } }),
  ]);
});

afterAll(async () => {
  for (const c of open) c.close();
  await stopAllSlotway();
  await stopAllRedis();
});

async function client(port = proxy.port): Promise<RawClient> {
  const c = await RawClient.connect(port);
  open.push(c);
  return c;
}

const decode = (s: string): unknown => {
  const v = decodeReply(Buffer.from(s, "latin1"), 0, false).value;
  return v;
};

const keys = Array.from({ length: 300 }, (_, i) => `cw:${i}`);

describe("cluster-wide commands", () => {
  it("DBSIZE sums the groups", async () => {
    const c = await client();
    await c.call("MSET", ...keys.flatMap((k) => [k, "v"]));
    await c.call("RPUSH", "cw:list", "a");
    const n1 = Number((await g1.command("DBSIZE")).slice(1));
    const n2 = Number((await g2.command("DBSIZE")).slice(1));
    expect(n1).toBeGreaterThan(50);
    expect(n2).toBeGreaterThan(50);
    expect(await c.call("DBSIZE")).toBe(`:${n1 + n2}\r\n`);
  });

  it("SCAN walks every group with an opaque cursor, keeps MATCH / COUNT / TYPE, and skips strays", async () => {
    const c = await client();
    // A stray copy: a key of a group-1 slot sitting on group 2's server.
    let stray = "";
    for (let i = 0; !stray; i++) if (slotOfKey(`cw:stray${i}`) < 512) stray = `cw:stray${i}`;
    await g2.command("SET", stray, "old");
    const seen: string[] = [];
    const cursors: string[] = [];
    let cursor = "0";
    for (let i = 0; i < 1000; i++) {
      const [next, batch] = decode(await c.call("SCAN", cursor, "MATCH", "cw:*", "COUNT", 50)) as [string, string[]];
      seen.push(...batch);
      cursors.push(next);
      cursor = next;
      if (cursor === "0") break;
    }
    expect(cursor).toBe("0");
    expect(new Set(seen)).toEqual(new Set([...keys, "cw:list"]));
    // The cursor names the group in its low 14 bits: both groups were walked.
    expect(new Set(cursors.filter((x) => x !== "0").map((x) => Number(BigInt(x) & 0x3fffn)))).toEqual(new Set([1, 2]));
    const lists: string[] = [];
    cursor = "0";
    do {
      const [next, batch] = decode(await c.call("SCAN", cursor, "TYPE", "list", "COUNT", 1000)) as [string, string[]];
      lists.push(...batch);
      cursor = next;
    } while (cursor !== "0");
    expect(lists).toEqual(["cw:list"]);
    expect(await c.call("SCAN", "x")).toBe("-ERR invalid cursor\r\n");
    await g2.command("DEL", stray);
  });

  it("SCAN and DBSIZE see every key once while a slot migrates (some keys moved, some not)", async () => {
    const c = await client();
    let tag = "";
    for (let i = 0; !tag; i++) if (slotOfKey(`mv${i}`) < 512) tag = `mv${i}`;
    const slot = slotOfKey(tag);
    const mv = Array.from({ length: 20 }, (_, i) => `{${tag}}${i}`);
    await c.call("MSET", ...mv.flatMap((k) => [k, "v"]));
    const admin = await new ProxyAdmin(proxy.adminAddr).init();
    const m = { migrate_from: g1.addr, migrate_from_group_id: 1, forward_method: 2 };
    await admin.fillOk([{ id: slot, backend_addr: g2.addr, backend_addr_group_id: 2, locked: true, ...m }]);
    await admin.fillOk([{ id: slot, backend_addr: g2.addr, backend_addr_group_id: 2, ...m }]);
    for (const k of mv.slice(0, 7)) await c.call("GET", k); // moves them to group 2
    expect(await g2.command("EXISTS", mv[0]!)).toBe(":1");
    expect(await g1.command("EXISTS", mv[10]!)).toBe(":1");
    const seen: string[] = [];
    let cursor = "0";
    do {
      const [next, batch] = decode(await c.call("SCAN", cursor, "MATCH", `{${tag}}*`, "COUNT", 7)) as [string, string[]];
      seen.push(...batch);
      cursor = next;
    } while (cursor !== "0");
    expect(seen.sort()).toEqual([...mv].sort());
    const n1 = Number((await g1.command("DBSIZE")).slice(1));
    const n2 = Number((await g2.command("DBSIZE")).slice(1));
    expect(await c.call("DBSIZE")).toBe(`:${n1 + n2}\r\n`);
    // Finish: move the rest as the bulk mover would, then back to group 1 for the next tests.
    const [h2, p2] = g2.addr.split(":");
    const d1 = await client(g1.port);
    await d1.call("MIGRATE", h2!, p2!, "", 0, 5000, "KEYS", ...mv);
    await admin.fillOk([{ id: slot, backend_addr: g2.addr, backend_addr_group_id: 2 }]);
    const back = { migrate_from: g2.addr, migrate_from_group_id: 2, forward_method: 2 };
    await admin.fillOk([{ id: slot, backend_addr: g1.addr, backend_addr_group_id: 1, ...back }]);
    const [h1, p1] = g1.addr.split(":");
    const d2 = await client(g2.port);
    await d2.call("MIGRATE", h1!, p1!, "", 0, 5000, "KEYS", ...mv);
    await admin.fillOk([{ id: slot, backend_addr: g1.addr, backend_addr_group_id: 1 }]);
    expect(await c.call("DEL", ...mv)).toBe(`:${mv.length}\r\n`);
  });

  it("RANDOMKEY finds a key in whichever group has one, and nil when none has", async () => {
    const c = await client();
    const k = decode(await c.call("RANDOMKEY")) as string;
    expect(k === "cw:list" || keys.includes(k)).toBe(true);
    await c.call("SELECT", "7");
    expect(await c.call("RANDOMKEY")).toBe("$-1\r\n");
    let only = "";
    for (let i = 0; !only; i++) if (slotOfKey(`only${i}`) >= 512) only = `only${i}`;
    await c.call("SET", only, "v");
    for (let i = 0; i < 5; i++) expect(await c.call("RANDOMKEY")).toBe(`$${only.length}\r\n${only}\r\n`);
    await c.call("DEL", only);
  });

  it("KEYS, FLUSHDB and FLUSHALL are refused unless enabled, then reach every group", async () => {
    const c = await client();
    for (const cmd of [["KEYS", "*"], ["FLUSHDB"], ["FLUSHALL"]]) {
      expect(await c.call(...cmd)).toBe(`-ERR handle request, command '${cmd[0]}' is not allowed\r\n`);
    }
    const o = await client(openProxy.port);
    const all = decode(await o.call("KEYS", "cw:*")) as string[];
    expect(new Set(all)).toEqual(new Set([...keys, "cw:list"]));
    await o.call("SELECT", "3");
    await o.call("MSET", "f:1", "1", "f:2", "2", "f:3", "3", "f:4", "4");
    expect(await o.call("DBSIZE")).toBe(":4\r\n");
    expect(await o.call("FLUSHDB")).toBe("+OK\r\n");
    expect(await o.call("DBSIZE")).toBe(":0\r\n");
    await o.call("SELECT", "0");
    expect(Number((await o.call("DBSIZE")).slice(1))).toBe(keys.length + 1); // db 0 untouched
    expect(await o.call("FLUSHALL")).toBe("+OK\r\n");
    expect(await o.call("DBSIZE")).toBe(":0\r\n");
    expect(await g1.command("DBSIZE")).toBe(":0");
    expect(await g2.command("DBSIZE")).toBe(":0");
  });

  it("INFO sums the Keyspace section over the groups", async () => {
    const c = await client();
    await c.call("MSET", ...keys.flatMap((k) => [k, "v"]));
    await c.call("EXPIRE", keys[0]!, 1000);
    await c.call("SELECT", "2");
    await c.call("SET", "db2key", "v");
    const info = decode(await c.call("INFO")) as string;
    expect(info).toContain("# Server");
    expect(info).toContain(`# Keyspace\r\ndb0:keys=${keys.length},expires=1,avg_ttl=`);
    expect(info).toContain("db2:keys=1,expires=0,avg_ttl=0");
    const ks = decode(await c.call("INFO", "keyspace")) as string;
    expect(ks.startsWith(`# Keyspace\r\ndb0:keys=${keys.length},`)).toBe(true);
    expect(decode(await c.call("INFO", "server")) as string).not.toContain("Keyspace");
    await c.call("DEL", "db2key");
  });

  it("PUBSUB CHANNELS lists the channels of every group", async () => {
    const s = await client();
    let a = "", b = "";
    for (let i = 0; !a || !b; i++) {
      if (!a && slotOfKey(`ch${i}`) < 512) a = `ch${i}`;
      if (!b && slotOfKey(`ch${i}`) >= 512) b = `ch${i}`;
    }
    await s.call("SUBSCRIBE", a, b);
    await s.read(1);
    const c = await client();
    for (let i = 0; ; i++) {
      const chans = decode(await c.call("PUBSUB", "CHANNELS", "ch*")) as string[];
      if (chans.length === 2) {
        expect(new Set(chans)).toEqual(new Set([a, b]));
        break;
      }
      if (i > 100) throw new Error(`channels: ${JSON.stringify(chans)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  });
});

describe("CLIENT, answered by the proxy", () => {
  it("ID, SETNAME, GETNAME, INFO and LIST describe the client's own connection", async () => {
    const c = await client();
    const d = await client(ref.port);
    expect(await c.call("CLIENT", "GETNAME")).toBe(await d.call("CLIENT", "GETNAME"));
    expect(await c.call("CLIENT", "SETNAME", "my app")).toBe(await d.call("CLIENT", "SETNAME", "my app"));
    expect(await c.call("CLIENT", "SETNAME", "app-1")).toBe("+OK\r\n");
    expect(await c.call("CLIENT", "GETNAME")).toBe("$5\r\napp-1\r\n");
    expect(await c.call("CLIENT", "SETNAME")).toBe(await d.call("CLIENT", "SETNAME"));
    const id = Number((await c.call("CLIENT", "ID")).slice(1));
    expect(id).toBeGreaterThan(0);
    const info = decode(await c.call("CLIENT", "INFO")) as string;
    expect(info).toMatch(new RegExp(`^id=${id} addr=127\\.0\\.0\\.1:\\d+ laddr=127\\.0\\.0\\.1:${proxy.port} name=app-1 .* db=0 .*resp=2\\n$`));
    const other = await client();
    await other.call("CLIENT", "SETNAME", "other");
    // LIST shows this worker's clients; find ourselves at least.
    const list = decode(await c.call("CLIENT", "LIST")) as string;
    expect(list).toContain(`id=${id} `);
    expect(decode(await c.call("CLIENT", "LIST", "ID", id)) as string).toBe(info);
    expect(await c.call("CLIENT", "KILL", "ID", "1")).toBe("-ERR handle request, command 'CLIENT KILL' is not allowed\r\n");
    expect(await c.call("HELLO", "3", "SETNAME", "via-hello")).toMatch(/^%7/);
    expect(await c.call("CLIENT", "GETNAME")).toBe("$9\r\nvia-hello\r\n");
  });
});
