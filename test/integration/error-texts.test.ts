// Every error text the proxy writes itself, checked against what redis-server 7 answers for
// the same input: arity errors of every command and subcommand, transactions, subscribed mode,
// CLIENT, SCAN, HELLO; CROSSSLOT and SORT against a redis-server in cluster mode. The texts
// slotway keeps from codis (refused commands, SELECT, AUTH) are listed at the end, with why.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { startSlotway, stopAllSlotway, type Slotway, twoGroups } from "../harness/slotway.js";
import { RawClient } from "../harness/resp-client.js";
import { sleep } from "../harness/wait.js";
import { COMMANDS } from "../../src/core/command-table.js";
import { slotOfKey } from "../../src/core/slot.js";

let g1: RedisServer, g2: RedisServer, ref: RedisServer, cluster: RedisServer;
let proxy: Slotway;
const open: RawClient[] = [];

beforeAll(async () => {
  [g1, g2, ref, cluster] = await Promise.all([
    startRedis(), startRedis(), startRedis(), startRedis({ extraArgs: ["--cluster-enabled", "yes"] }),
  ]);
  proxy = await startSlotway({
    groups: twoGroups(g1.addr, g2.addr),
  });
  await cluster.command("CLUSTER", "ADDSLOTSRANGE", "0", "16383");
  for (let i = 0; !(await cluster.command("CLUSTER", "INFO")).includes("cluster_state:ok"); i++) {
    if (i > 750) throw new Error("the cluster-mode redis-server did not come up"); // Redis waits 2 s before a fresh master reports ok
    await sleep(20);
  }
});

afterAll(async () => {
  for (const c of open) c.close();
  await stopAllSlotway();
  await stopAllRedis();
});

async function client(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  open.push(c);
  return c;
}

/** Sends each command to the proxy and to server; the replies must be the same bytes. */
async function compare(server: RedisServer, cmds: (string | number)[][]): Promise<void> {
  const c = await client(proxy.port);
  const d = await client(server.port);
  for (const cmd of cmds) expect(await c.call(...cmd), cmd.join(" ")).toBe(await d.call(...cmd));
  c.close();
  d.close();
}

describe("error texts as redis-server 7 writes them", () => {
  it("arity errors of every command and subcommand of the table", async () => {
    const c = await client(proxy.port);
    const d = await client(ref.port);
    let n = 0;
    for (const cmd of COMMANDS) {
      const cases: string[][] = [];
      if (cmd.minArgs > 1) cases.push([cmd.name, ...Array(cmd.minArgs - 2).fill("x")]);
      if (cmd.minArgs > 0 && cmd.maxArgs === cmd.minArgs) cases.push([cmd.name, ...Array(cmd.maxArgs).fill("x")]);
      for (const sub of cmd.subs ?? []) {
        const sname = sub.name.split("|")[1]!;
        if (sub.minArgs > 2) cases.push([cmd.name, sname, ...Array(sub.minArgs - 3).fill("x")]);
        if (sub.maxArgs === sub.minArgs) cases.push([cmd.name, sname, ...Array(sub.maxArgs - 1).fill("x")]);
      }
      for (const argv of cases) {
        const want = await d.call(...argv);
        expect(want, argv.join(" ")).toMatch(/^-(ERR|EXECABORT Transaction discarded because of:) wrong number of arguments for '/);
        expect(await c.call(...argv), argv.join(" ")).toBe(want);
        n++;
      }
    }
    expect(n).toBeGreaterThan(300);
  });

  it("transactions, subscribed mode, CLIENT, SCAN and HELLO", async () => {
    await compare(ref, [
      ["EXEC"], ["DISCARD"], ["MULTI"], ["MULTI"], ["WATCH", "k"], ["GET"], ["EXEC"],
      ["CLIENT", "SETNAME", "a b"], ["CLIENT", "SETNAME", "a\nb"],
      ["SCAN", "abc"], ["SCAN", "-1"], ["HELLO", "4"], ["HELLO", "x"],
      ["SUBSCRIBE", "c"], ["GET", "k"], ["SET", "k", "v"], ["MULTI"],
    ]);
  });

  it("CROSSSLOT and SORT patterns, as a redis-server in cluster mode words them", async () => {
    // Keys in different slots both for Redis Cluster and for codis.
    const a = "a", b = "b";
    expect(slotOfKey(a)).not.toBe(slotOfKey(b));
    expect(await cluster.command("CLUSTER", "KEYSLOT", a)).not.toBe(await cluster.command("CLUSTER", "KEYSLOT", b));
    await compare(cluster, [
      ["MSETNX", a, "1", b, "2"], ["RENAME", a, b], ["SINTER", a, b], ["EVAL", "return 1", 2, a, b],
      ["BLPOP", a, b, 1], ["WATCH", a, b], ["SORT", "{x}l", "BY", "w_*"], ["SORT", "{x}l", "GET", "w_*"],
      ["SSUBSCRIBE", a, b],
    ]);
  });
});

describe("texts kept from codis (a drop-in replacement keeps what codis users match on)", () => {
  it("refused commands, SELECT and AUTH", async () => {
    const c = await client(proxy.port);
    expect(await c.call("CONFIG", "GET", "x")).toBe("-ERR handle request, command 'CONFIG' is not allowed\r\n"); // Redis: runs it
    expect(await c.call("SELECT", "99")).toBe("-ERR invalid DB index, only accept DB [0,16)\r\n"); // Redis: "ERR DB index is out of range"
    expect(await c.call("AUTH", "x")).toBe("-ERR Client sent AUTH, but no password is set\r\n"); // Redis 7: "ERR AUTH <password> called without any password configured ..."
  });
});
