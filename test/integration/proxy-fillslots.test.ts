// fillslots is codis's lock-and-drain, done across every worker thread (DESIGN §2): the 200 a
// dashboard waits for is the proof that no request of the slot is in flight to the old backend
// and that every later request goes to the new one. Real redis-server backends (DEBUG SLEEP
// stalls one), a proxy with 2 workers, clients placed on both workers. Where a write landed is
// read on the backends directly: each request RPUSHes its own id to a list of its slot.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { startSlotway, stopAllSlotway, type Slotway } from "../harness/slotway.js";
import { ProxyAdmin, clientsOnEachWorker, sleep, until, type SlotJson } from "../harness/admin.js";
import { RawClient } from "../harness/resp-client.js";
import { encodeCommand } from "../../src/core/resp-encoder.js";
import { slotOfKey } from "../../src/core/slot.js";

let g1: RedisServer;
let g2: RedisServer;
let d1: Redis; // direct connections to the backends, for checks and stalls
let d2: Redis;
let proxy: Slotway;
let admin: ProxyAdmin;
const open: RawClient[] = [];

const direct = (s: RedisServer): Redis => {
  const r = new Redis({ port: s.port, host: "127.0.0.1", maxRetriesPerRequest: 0 });
  r.on("error", () => undefined);
  return r;
};

beforeAll(async () => {
  const debug = { extraArgs: ["--enable-debug-command", "yes"] };
  [g1, g2] = await Promise.all([startRedis(debug), startRedis(debug)]);
  d1 = direct(g1);
  d2 = direct(g2);
  proxy = await startSlotway({
    workers: 2,
    groups: [{ id: 1, servers: [g1.addr], slots: "0-1023" }],
    config: { slot_drain_timeout: "5s" },
  });
  admin = await new ProxyAdmin(proxy.adminAddr).init();
});

afterAll(async () => {
  for (const c of open) c.close();
  d1?.disconnect();
  d2?.disconnect();
  await stopAllSlotway();
  await stopAllRedis();
});

const on = (id: number, s: RedisServer, gid: number, extra: Partial<SlotJson> = {}): SlotJson => ({
  id, backend_addr: s.addr, backend_addr_group_id: gid, ...extra,
});

/** Two clients on each worker (kept open until the end of the file). */
async function clients(perWorker = 2, port = proxy.port): Promise<RawClient[]> {
  const all = (await clientsOnEachWorker(port, perWorker)).flat();
  open.push(...all);
  return all;
}

/** Sends RPUSH list id for each id on c in one write (pipelined). */
function pushAll(c: RawClient, list: string, ids: string[]): void {
  c.write(Buffer.concat(ids.map((id) => encodeCommand(["RPUSH", list, id]))));
}

/** Reads n replies; all must be integers. Returns when the last one arrived. */
async function integers(c: RawClient, n: number, timeoutMs = 10_000): Promise<number> {
  const frames = await c.read(n, timeoutMs);
  for (const f of frames) expect(f.toString("latin1")).toMatch(/^:\d+\r\n$/);
  return performance.now();
}

/** Connections to a backend whose last command was cmd (CLIENT LIST): one per worker that sent it. */
async function connsWithLastCmd(d: Redis, cmd: string): Promise<number> {
  const list = (await d.call("CLIENT", "LIST")) as string;
  return list.split("\n").filter((l) => l.includes(` cmd=${cmd} `)).length;
}

describe("fillslots waits for the slot's in-flight requests on every worker", () => {
  for (const w of [0, 1]) {
    it(`answers 200 only after in-flight requests of the slot on worker ${w} were answered; later requests go to the new backend`, async () => {
      const list = `{drain${w}}:list`;
      const slot = slotOfKey(list);
      await admin.fillOk([on(slot, g1, 1)]);
      const byWorker = await clientsOnEachWorker(proxy.port, 2);
      open.push(...byWorker.flat());
      const busy = byWorker[w]!; // only this worker has requests in flight
      const cs = byWorker.flat();
      await d1.del(list);
      await d2.del(list);

      // Stall g1, then put requests of the slot in flight.
      const stall = d1.call("DEBUG", "SLEEP", "0.6").then(() => performance.now());
      await sleep(50);
      const inflight = busy.map((_, i) => [0, 1, 2].map((j) => `inflight-${i}-${j}`));
      busy.forEach((c, i) => pushAll(c, list, inflight[i]!));
      const answered = busy.map((c) => integers(c, 3));
      await sleep(50);

      const sent = performance.now();
      const fill = admin.fill([on(slot, g2, 2)]);
      // Requests sent while the slot drains are held: they reach the new backend only after
      // the in-flight ones were answered by the old one.
      await sleep(100);
      const during = cs.map((_, i) => [`during-${i}`]);
      cs.forEach((c, i) => pushAll(c, list, during[i]!));
      await sleep(100);
      expect(await d2.exists(list)).toBe(0);
      // The admin API stays responsive during a drain (a dashboard polls stats with a 1 s timeout).
      const t = performance.now();
      expect((await admin.stats()).online).toBe(true);
      expect(performance.now() - t).toBeLessThan(200);
      const r = await fill;
      expect(r.status, r.text).toBe(200);
      expect(JSON.parse(r.text)).toBe("OK");
      const stalledUntil = await stall;
      const repliedAt = await Promise.all(answered);
      expect(r.at - sent).toBeGreaterThan(300); // it really waited for the stalled backend
      expect(r.at).toBeGreaterThanOrEqual(stalledUntil);
      for (const t of repliedAt) expect(t).toBeLessThanOrEqual(r.at);

      const after = cs.map((_, i) => [`after-${i}-0`, `after-${i}-1`]);
      cs.forEach((c, i) => pushAll(c, list, after[i]!));
      await Promise.all(cs.map((c) => integers(c, 3)));
      const onG1 = await d1.lrange(list, 0, -1);
      const onG2 = await d2.lrange(list, 0, -1);
      expect(new Set(onG1)).toEqual(new Set(inflight.flat()));
      expect(new Set(onG2)).toEqual(new Set([...during.flat(), ...after.flat()]));
      // Each client's requests kept their order on the new backend.
      cs.forEach((_, i) => {
        const mine = [`during-${i}`, ...after[i]!];
        expect(onG2.filter((x) => mine.includes(x))).toEqual(mine);
      });
    });
  }

  it("holds requests of a locked slot (no reply, no error) until an unlocked fill, then answers them in order by the new record", async () => {
    const list = "{locked}:list";
    const slot = slotOfKey(list);
    const other = "{unlocked}:key";
    expect(slotOfKey(other)).not.toBe(slot);
    await admin.fillOk([on(slot, g1, 1)]);
    const cs = await clients();
    await d1.del(list);
    await d2.del(list);

    const locked = await admin.fill([on(slot, g1, 1, { locked: true })]);
    expect(locked.status).toBe(200);
    expect((await admin.slots())[slot]).toEqual({ id: slot, locked: true, backend_addr: g1.addr, backend_addr_group_id: 1 });
    const ids = cs.map((_, i) => [0, 1, 2, 3, 4].map((j) => `held-${i}-${j}`));
    cs.forEach((c, i) => pushAll(c, list, ids[i]!));
    await until("all requests held", async () => (await admin.stats()).slotway?.held_requests === 5 * cs.length, 5000);
    await sleep(300);
    for (const c of cs) {
      await expect(c.read(1, 50)).rejects.toThrow(/timeout: 0 of 1/);
      expect(c.closed).toBe(false);
    }
    expect(await d1.exists(list)).toBe(0);
    expect(await d2.exists(list)).toBe(0);
    // Other slots are served meanwhile, on every worker.
    const others = await clients(1);
    for (const c of others) expect(await c.call("SET", other, "v")).toBe("+OK\r\n");

    const unlock = await admin.fill([on(slot, g2, 2)]);
    expect(unlock.status).toBe(200);
    for (let i = 0; i < cs.length; i++) {
      const frames = await cs[i]!.read(5);
      for (const f of frames) expect(f.toString("latin1")).toMatch(/^:\d+\r\n$/);
    }
    expect((await admin.stats()).slotway?.held_requests).toBe(0);
    const onG2 = await d2.lrange(list, 0, -1);
    expect(await d1.exists(list)).toBe(0);
    expect(onG2).toHaveLength(5 * cs.length);
    ids.forEach((mine, i) => expect(onG2.filter((x) => x.startsWith(`held-${i}-`))).toEqual(mine));
  });

  it("a split command with one key in a locked slot waits for the unlock; its other keys are not lost", async () => {
    const held = "{split-held}:k";
    const free = "{split-free}:k";
    const hs = slotOfKey(held);
    const fs = slotOfKey(free);
    expect(hs).not.toBe(fs);
    await admin.fillOk([on(hs, g1, 1), on(fs, g1, 1)]);
    await d1.mset(held, "h1", free, "f1");
    await d2.set(held, "h2");
    await admin.fillOk([on(hs, g1, 1, { locked: true })]);
    const [c] = await clients(1);
    c!.write(Buffer.concat([encodeCommand(["MGET", free, held]), encodeCommand(["DEL", free, held])]));
    await expect(c!.read(1, 300)).rejects.toThrow(/timeout/);
    // (The parts of unlocked slots may run at once, as in codis: per key, order is kept.)
    await admin.fillOk([on(hs, g2, 2)]);
    const [mget, del] = await c!.read(2);
    expect(mget!.toString()).toBe("*2\r\n$2\r\nf1\r\n$2\r\nh2\r\n");
    expect(del!.toString()).toBe(":2\r\n");
    expect(await d1.exists(free)).toBe(0);
    expect(await d1.get(held)).toBe("h1"); // g1's copy of the held key is no longer its slot's
    expect(await d2.exists(held)).toBe(0);
  });

  it("a slot swapped back and forth under load from both workers: no request ever lands where the slot was moved away from", async () => {
    const list = "{swap}:list";
    const slot = slotOfKey(list);
    await admin.fillOk([on(slot, g1, 1)]);
    await d1.del(list);
    await d2.del(list);
    const cs = await clients(6);
    const backends = [g1, g2];

    // fills[k]: the slot points at backends[k % 2] from the moment fill k returned.
    const fills: { sent: number; done: number }[] = [{ sent: -Infinity, done: -Infinity }];
    const reqs: { id: string; sent: number; replied: number }[] = [];
    let stop = false;
    const load = cs.map(async (c, i) => {
      for (let n = 0; !stop; n++) {
        const id = `${i}:${n}`;
        const sent = performance.now();
        const reply = await c.call("RPUSH", list, id);
        const replied = performance.now();
        expect(reply).toMatch(/^:\d+\r\n$/);
        reqs.push({ id, sent, replied });
      }
    });
    try {
      await sleep(30);
      for (let k = 1; k <= 30; k++) {
        const sent = performance.now();
        const r = await admin.fill([on(slot, backends[k % 2]!, (k % 2) + 1)]);
        expect(r.status, r.text).toBe(200);
        fills.push({ sent, done: r.at });
        // A fence on the backend the slot just left: a proxy write that lands after it, before
        // the next fill moved the slot back, reached that backend after the fill returned.
        await (k % 2 === 1 ? d1 : d2).rpush(list, `fence-${k}`);
        await sleep(k % 3 === 0 ? 0 : 5 + ((k * 7) % 20));
      }
      await sleep(20);
    } finally {
      stop = true;
      await Promise.allSettled(load);
    }
    await Promise.all(load);

    const where = new Map<string, number[]>();
    const byId = new Map(reqs.map((q) => [q.id, q]));
    const late: string[] = [];
    for (const [b, d] of [d1, d2].entries()) {
      let fence = -1;
      for (const id of await d.lrange(list, 0, -1)) {
        if (id.startsWith("fence-")) {
          fence = Number(id.slice(6));
          continue;
        }
        where.set(id, [...(where.get(id) ?? []), b]);
        const q = byId.get(id);
        const back = fills[fence + 1];
        if (fence >= 0 && q && (back === undefined || q.replied < back.sent)) late.push(`${id} landed on g${b + 1} after fill ${fence} moved the slot away`);
      }
    }
    expect(late).toEqual([]);
    expect(where.size).toBe(reqs.length); // nothing lost, nothing extra
    let strict = 0;
    const wrong: string[] = [];
    for (const q of reqs) {
      const landed = where.get(q.id) ?? [];
      expect(landed, q.id).toHaveLength(1); // written exactly once
      // Allowed: the backend of the last fill that returned before the request was sent, or of
      // any fill sent before its reply arrived (the slot may have moved while it waited).
      let lo = 0;
      while (lo + 1 < fills.length && fills[lo + 1]!.done < q.sent) lo++;
      let hi = lo;
      while (hi + 1 < fills.length && fills[hi + 1]!.sent < q.replied) hi++;
      if (hi === lo) strict++;
      const allowed = new Set<number>();
      for (let k = lo; k <= hi; k++) allowed.add(k % 2 === 0 ? 0 : 1);
      if (!allowed.has(landed[0]!)) wrong.push(`${q.id} sent after fill ${lo} returned landed on g${landed[0]! + 1}`);
    }
    expect(wrong).toEqual([]);
    expect(reqs.length).toBeGreaterThan(500);
    expect(strict).toBeGreaterThan(reqs.length / 2); // most requests fell between two fills
    // Both workers wrote to both backends.
    expect(await connsWithLastCmd(d1, "rpush")).toBeGreaterThanOrEqual(2);
    expect(await connsWithLastCmd(d2, "rpush")).toBeGreaterThanOrEqual(2);
  });
});

describe("fillslots failures", () => {
  it("fails with 800 when the drain exceeds slot_drain_timeout, and leaves the old route working", async () => {
    const p2 = await startSlotway({
      workers: 2,
      groups: [{ id: 1, servers: [g1.addr], slots: "0-1023" }],
      config: { slot_drain_timeout: "300ms" },
    });
    const a2 = await new ProxyAdmin(p2.adminAddr).init();
    const list = "{stuck}:list";
    const slot = slotOfKey(list);
    await d1.del(list);
    await d2.del(list);
    const cs = await clients(1, p2.port);

    const stall = d1.call("DEBUG", "SLEEP", "1.5");
    await sleep(50);
    cs.forEach((c, i) => pushAll(c, list, [`inflight-${i}`]));
    await sleep(50);
    const sent = performance.now();
    const fill = a2.fill([on(slot, g2, 2)]);
    await sleep(100);
    cs.forEach((c, i) => pushAll(c, list, [`during-${i}`])); // held while the fill waits
    const r = await fill;
    expect(r.status).toBe(800);
    const body = JSON.parse(r.text) as { Cause: string; Stack: unknown };
    expect(body.Stack).toEqual(expect.any(Array));
    expect(body.Cause).toMatch(new RegExp(`slot-\\[${String(slot).padStart(4, "0")}\\] still has \\d+ request\\(s\\) in flight after 300 ms`));
    expect(r.at - sent).toBeGreaterThanOrEqual(280);
    expect(r.at - sent).toBeLessThan(1200); // failed at the timeout, not when the stall ended
    expect((await a2.slots())[slot]).toEqual({ id: slot, backend_addr: g1.addr, backend_addr_group_id: 1 });

    await stall;
    cs.forEach((c, i) => pushAll(c, list, [`after-${i}`]));
    await Promise.all(cs.map((c) => integers(c, 3)));
    expect(await d2.exists(list)).toBe(0);
    expect((await d1.lrange(list, 0, -1)).sort()).toEqual(cs.flatMap((_, i) => [`inflight-${i}`, `during-${i}`, `after-${i}`]).sort());
    // The failure left nothing locked and no fill stuck: the next one works.
    expect((await a2.fill([on(slot, g2, 2)])).status).toBe(200);
    expect(await cs[0]!.call("RPUSH", list, "moved")).toBe(":1\r\n");
    expect(await d2.lrange(list, 0, -1)).toEqual(["moved"]);
    await p2.stop();
  });

  it("refuses an invalid slot id with 800 (codis: use of invalid slot id) and applies nothing", async () => {
    const slot = slotOfKey("{invalid}");
    await admin.fillOk([on(slot, g1, 1)]);
    for (const id of [1024, -1, 5000]) {
      const r = await admin.fill([on(slot, g2, 2), on(id, g2, 2)]);
      expect(r.status, String(id)).toBe(800);
      expect(JSON.parse(r.text)).toEqual({ Cause: "use of invalid slot id", Stack: expect.any(Array) });
    }
    expect((await admin.slots())[slot]).toEqual(on(slot, g1, 1));
  });

  it("refuses an unknown forward_method with 800 (codis: use of invalid forwarder method)", async () => {
    const slot = slotOfKey("{badmethod}");
    await admin.fillOk([on(slot, g1, 1)]);
    const r = await admin.fill([on(slot, g2, 2, { migrate_from: g1.addr, migrate_from_group_id: 1, forward_method: 3 })]);
    expect(r.status).toBe(800);
    expect(JSON.parse(r.text)).toEqual({ Cause: "use of invalid forwarder method", Stack: expect.any(Array) });
    expect((await admin.slots())[slot]).toEqual(on(slot, g1, 1));
  });

  it("refuses a body that does not decode as []Slot with 800", async () => {
    for (const body of ['{"id": 1}', "[{\"id\": \"1\"}]", '[{"id": 1, "locked": "yes"}]', "[1,", "not json"]) {
      const r = await admin.call("PUT", "fillslots/{x}", body);
      expect(r.status, body).toBe(800);
      expect(JSON.parse(r.text), body).toMatchObject({ Stack: expect.any(Array) });
    }
  });

  it("takes a JSON null body as an empty list (Go json.Unmarshal into []*Slot), as codis does", async () => {
    const r = await admin.call("PUT", "fillslots/{x}", "null");
    expect(r.status, r.text).toBe(200);
    expect(JSON.parse(r.text)).toBe("OK");
  });
});

describe("what a filled record means", () => {
  it("an empty backend_addr takes the slot offline: codis's 'slot is not ready'", async () => {
    const key = "{offline}:k";
    const slot = slotOfKey(key);
    await admin.fillOk([{ id: slot }]);
    const [c] = await clients(1);
    expect(await c!.call("GET", key)).toBe("-ERR handle request, slot is not ready, may be offline\r\n");
    expect((await admin.slots())[slot]).toEqual({ id: slot });
    await admin.fillOk([on(slot, g1, 1)]);
    expect(await c!.call("GET", key)).toBe("$-1\r\n");
  });

  it("replica_groups: reads go to the replica group, writes to backend_addr", async () => {
    const key = "{replica}:k";
    const slot = slotOfKey(key);
    await d1.set(key, "from-master");
    await d2.set(key, "from-replica");
    await admin.fillOk([on(slot, g1, 1, { replica_groups: [[g2.addr]] })]);
    expect((await admin.slots())[slot]).toEqual(on(slot, g1, 1, { replica_groups: [[g2.addr]] }));
    const cs = await clients(1);
    for (const c of cs) {
      expect(await c.call("GET", key)).toBe("$12\r\nfrom-replica\r\n");
      expect(await c.call("SET", key, "written")).toBe("+OK\r\n");
    }
    expect(await d1.get(key)).toBe("written");
    await admin.fillOk([on(slot, g1, 1)]);
    expect(await cs[0]!.call("GET", key)).toBe("$7\r\nwritten\r\n");
  });
});
