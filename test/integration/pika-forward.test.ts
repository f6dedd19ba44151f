// The proxy's forward method 0 (sync) against real Pika 3.5 and 4.0: a migrating slot whose keys
// several clients (on both workers) write at once. Pika fails a SLOTSMGRTTAGONE that waited
// behind another move of the same key or tag ("ERR Unknown Error", "ERR cont get the key type."),
// so without a retry about one request in five failed here; with it none may, and every write
// must land on the target, counted exactly.
import { afterAll, describe, expect, it } from "vitest";
import { slotOfKey } from "../../src/core/slot.js";
import { ProxyAdmin, clientsOnEachWorker, type SlotJson } from "../harness/admin.js";
import { startPika, stopAllPika } from "../harness/pika.js";
import { RawClient } from "../harness/resp-client.js";
import { startSlotway, stopAllSlotway } from "../harness/slotway.js";

const open: RawClient[] = [];
afterAll(async () => {
  for (const c of open) c.close();
  await stopAllSlotway();
  await stopAllPika();
});

for (const version of ["3.5", "4.0"] as const) {
  describe(`sync forward on Pika ${version}`, () => {
    it("concurrent writers of one hash tag and one key, while the slot migrates: no error, exact counts on the target", async () => {
      const [a, b] = await Promise.all([startPika({ version }), startPika({ version })]);
      const proxy = await startSlotway({ workers: 2, groups: [{ id: 1, servers: [a.addr], slots: "0-1023" }] });
      const admin = await new ProxyAdmin(proxy.adminAddr, "test").init();
      const clients = (await clientsOnEachWorker(proxy.port, 3)).flat();
      open.push(...clients);
      const families = Array.from({ length: 40 }, (_, i) => `{cf${version}-${i}}`);
      for (const f of families) {
        await a.call("SET", `${f}:n`, "0");
        await a.call("RPUSH", `${f}:l`, "seed");
      }
      const slots = [...new Set(families.map((f) => slotOfKey(`${f}:n`)))];
      await admin.fillOk(slots.map((id): SlotJson => ({
        id, backend_addr: b.addr, backend_addr_group_id: 2, migrate_from: a.addr, migrate_from_group_id: 1, forward_method: 0,
      })));
      // Every client hits every family at once: INCR of the counter, RPUSH of the list (same tag).
      const replies = await Promise.all(clients.map(async (c, ci) => {
        const out: string[] = [];
        for (const f of families) {
          out.push(await c.call("INCR", `${f}:n`));
          out.push(await c.call("RPUSH", `${f}:l`, `c${ci}`));
        }
        return out;
      }));
      const errors = replies.flat().filter((r) => r.startsWith("-"));
      expect(errors).toEqual([]);
      for (const f of families) {
        expect(await b.call("GET", `${f}:n`)).toBe(String(clients.length));
        expect(((await b.call("LRANGE", `${f}:l`, "0", "-1")) as string[]).sort()).toEqual(["seed", ...clients.map((_, ci) => `c${ci}`)].sort());
        expect(await a.call("EXISTS", `${f}:n`, `${f}:l`)).toBe(0);
      }
    }, 60_000);
  });
}
