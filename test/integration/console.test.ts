// The web console in headless Chromium against real processes: redis-servers, `slotway
// dashboard`, `slotway proxy --dashboard`. The README's dashboard walkthrough is done from the
// page (create groups, add servers, assign, migrate a range, rebalance onto a third group), plus
// sync, promote and remove; every step is checked through the dashboard's API, and the page must
// log no console error.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import type { Page } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { slotOfKey } from "../../src/core/slot.js";
import { startBrowser, type Browser } from "../harness/browser.js";
import { startDashboard, stopAllDashboards, type Dashboard } from "../harness/dashboard.js";
import { startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { startSlotway, stopAllSlotway, type Slotway } from "../harness/slotway.js";
import { httpRequest } from "../harness/admin.js";
import { until } from "../harness/wait.js";

// A screenshot of the console mid-migration, for people to look at (not compared by the test).
const SHOTS = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "tmp");

let browser: Browser | undefined;
const clients: Redis[] = [];

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await browser?.close();
  await stopAllSlotway();
  await stopAllDashboards();
  await stopAllRedis();
});

async function submit(page: Page, form: string, fields: Record<string, string | number>): Promise<void> {
  for (const [name, v] of Object.entries(fields)) await page.fill(`${form} [name="${name}"]`, String(v));
  await page.click(`${form} button[type=submit]`);
}

/** Waits for the newest activity entry about `label` to end, and insists it ended OK. */
async function actionOk(page: Page, label: string): Promise<void> {
  const li = page.locator("#activity li", { hasText: label }).first();
  await li.waitFor({ timeout: 15_000 });
  await until(`"${label}" finished`, async () => (await li.getAttribute("class")) !== "run", 15_000, 50);
  expect(`${label}: ${await li.locator(".r").textContent()}`).toBe(`${label}: OK`);
}

async function confirm(page: Page, title: string): Promise<void> {
  await page.locator("#confirm[open]").waitFor({ timeout: 10_000 });
  expect(await page.textContent("#confirm-title")).toContain(title);
  await page.click("#confirm-ok");
}

/** Clicks a slot's cell on the map (32 × 32 cells of 14 px + 2 px gap on a 510 px canvas). */
async function pickSlot(page: Page, sid: number, shift = false): Promise<void> {
  const box = (await page.locator("#slotmap").boundingBox())!;
  const scale = box.width / 510;
  const position = { x: ((sid % 32) * 16 + 7) * scale, y: (Math.floor(sid / 32) * 16 + 7) * scale };
  await page.click("#slotmap", { position, modifiers: shift ? ["Shift"] : [] });
}

const text = async (page: Page, sel: string): Promise<string> => (await page.textContent(sel)) ?? "";

/** Waits until the text of sel satisfies ok; fails with the last text seen. */
async function waitFor(page: Page, sel: string, ok: (t: string) => boolean, timeoutMs = 10_000): Promise<void> {
  let last = "";
  await until(`${sel} to show what is expected`, async () => ok((last = await text(page, sel))), timeoutMs, 50)
    .catch((e: Error) => {
      throw new Error(`${e.message}; last text of ${sel}: ${JSON.stringify(last)}`);
    });
}
const num = (s: string): number => Number(s.replace(/[^\d]/g, ""));

describe("web console", () => {
  it("the README walkthrough from the page: groups, assign, migrate with progress, rebalance, sync, promote, remove", async () => {
    const [r1, r2, r3, r4] = await Promise.all([startRedis(), startRedis(), startRedis(), startRedis()]) as [RedisServer, RedisServer, RedisServer, RedisServer];
    // Small batches so a migration takes a few poll periods and its progress can be watched.
    const d: Dashboard = await startDashboard({ config: { migration_parallel_slots: 32, migration_method: "redis" } });
    const proxy: Slotway = await startSlotway({ workers: 1, args: ["--dashboard", d.addr] });
    await until("proxy online", async () => {
      const st = await d.stats();
      const m = st.proxy.models.find((x) => x.admin_addr === proxy.adminAddr);
      return m && st.proxy.stats[m.token]?.stats?.online;
    }, 20_000, 50);

    // codis's answers stay where codis tools look for them.
    const root = await httpRequest("GET", `http://${d.addr}/`);
    expect([root.status, root.headers.location]).toEqual([302, "/topom"]);
    const bare = await httpRequest("GET", `http://${d.addr}/ui`);
    expect([bare.status, bare.headers.location]).toEqual([302, "/ui/"]);

    browser = await startBrowser();
    const { page, errors } = browser;
    await page.goto(`http://${d.addr}/ui/`);
    await waitFor(page, "#product-name", (t) => t === "test");
    await until("stats read", async () => (await page.getAttribute("#health", "class")) === "dot ok", 10_000, 50);
    expect(await text(page, "#sum-proxies")).toBe("1 / 1");
    expect(await text(page, "#sum-slots")).toBe("0 / 1024");

    // 4. two groups, one server each
    for (const gid of [1, 2]) {
      await submit(page, "#f-create-group", { gid });
      await actionOk(page, `create group ${gid}`);
    }
    await submit(page, "#f-add-server", { gid: 1, addr: r1.addr });
    await actionOk(page, `add ${r1.addr} to group 1`);
    await submit(page, "#f-add-server", { gid: 2, addr: r2.addr });
    await actionOk(page, `add ${r2.addr} to group 2`);
    let st = await d.stats();
    expect(st.group.models.map((g) => [g.id, g.servers.map((s) => s.server)])).toEqual([[1, [r1.addr]], [2, [r2.addr]]]);
    // The group table fills in from the servers' INFO.
    await page.locator(`#groups .group[data-key="1"] tr[data-key="${r1.addr}"] td.ok`).waitFor({ timeout: 10_000 });
    expect(await text(page, `#groups .group[data-key="1"] tr[data-key="${r1.addr}"]`)).toMatch(/redis 7\.\d+\.\d+\s*master/);

    // 5. all slots to group 1, and some data
    await submit(page, "#f-assign", { beg: 0, end: 1023, gid: 1 });
    await confirm(page, "Assign slots 0–1023 to group 1");
    await actionOk(page, "assign slots 0-1023 to group 1");
    st = await d.stats();
    expect(st.slots.every((m) => m.group_id === 1 && !m.action.state)).toBe(true);
    await waitFor(page, "#sum-slots", (t) => t === "1024 / 1024");
    const c = new Redis({ port: proxy.port, host: "127.0.0.1", maxRetriesPerRequest: 2 });
    clients.push(c);
    const keys = Array.from({ length: 2000 }, (_, i) => `key:${i}`);
    for (let i = 0; i < keys.length; i += 500) await c.mset(...keys.slice(i, i + 500).flatMap((k) => [k, `value-${k}`]));
    expect(await r1.command("DBSIZE")).toBe(":2000");

    // 6. move 512-1023 to group 2, slowed down so the page shows it progressing
    await submit(page, "#f-interval", { us: 25000 });
    await actionOk(page, "set the pause between steps to 25000 µs");
    // The range from the slot map: click slot 512, shift-click slot 1023.
    await pickSlot(page, 512);
    await pickSlot(page, 1023, true);
    expect([await page.inputValue("#f-migrate [name=beg]"), await page.inputValue("#f-migrate [name=end]")]).toEqual(["512", "1023"]);
    await submit(page, "#f-migrate", { gid: 2 });
    await actionOk(page, "migrate slots 512-1023 to group 2");
    // Readings of the page while it says "running": a later one must show fewer slots left and
    // more keys moved than an earlier one (the counters move between polls, not all at the end).
    const seen: { left: number; moved: number; headline: string; rate: string }[] = [];
    const progressed = (): boolean => {
      const mid = seen.filter((s) => s.left > 0 && s.left < 512 && s.moved > 0);
      return mid.some((s) => s.left < mid[0]!.left && s.moved > mid[0]!.moved);
    };
    await until("the page shows the migration progressing", async () => {
      if ((await page.getAttribute("#migration-panel", "data-state")) !== "running") return false;
      seen.push({
        left: num(await text(page, "#mig-slots-left")), moved: num(await text(page, "#mig-keys-moved")),
        headline: await text(page, "#mig-headline"), rate: await text(page, "#mig-rate"),
      });
      return progressed();
    }, 30_000, 100);
    expect(progressed()).toBe(true);
    const last = seen.at(-1)!;
    expect(last.headline).toMatch(/^Moving: \d+ slots? left · \d+% done/);
    expect(last.rate).toMatch(/^[\d.,]+ keys\/s$/);
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, "console-migrating.png"), fullPage: true });
    await until("migration done on the page", async () => (await page.getAttribute("#migration-panel", "data-state")) === "idle", 30_000, 100);
    expect(await text(page, "#mig-headline")).toMatch(/^Done: last migration moved \d+ slots and [\d,]+ keys/);
    st = await d.stats();
    expect(st.slots.every((m) => m.group_id === (m.id < 512 ? 1 : 2) && !m.action.state)).toBe(true);
    const moved = keys.filter((k) => slotOfKey(k) >= 512).length;
    expect(await r2.command("DBSIZE")).toBe(`:${moved}`);
    expect(await r1.command("DBSIZE")).toBe(`:${keys.length - moved}`);
    expect(num(await text(page, "#mig-keys-moved"))).toBe(moved);
    for (let i = 0; i < keys.length; i += 500) {
      expect(await c.mget(...keys.slice(i, i + 500))).toEqual(keys.slice(i, i + 500).map((k) => `value-${k}`));
    }
    await submit(page, "#f-interval", { us: 0 });
    await actionOk(page, "set the pause between steps to 0 µs");

    // 7. rebalance onto a third group
    await submit(page, "#f-create-group", { gid: 3 });
    await actionOk(page, "create group 3");
    await submit(page, "#f-add-server", { gid: 3, addr: r3.addr });
    await actionOk(page, `add ${r3.addr} to group 3`);
    await page.click("#f-rebalance button[type=submit]");
    await confirm(page, "Rebalance: move 341 slots");
    expect(await text(page, "#confirm-body")).toContain("[0342, 0511] → group 3");
    await actionOk(page, "rebalance (341 slots)");
    await until("rebalanced", async () => {
      const s = await d.stats();
      return s.slots.every((m) => !m.action.state) && s.slots.filter((m) => m.group_id === 3).length === 341;
    }, 30_000, 100);
    expect(await r1.command("DBSIZE")).not.toBe(":0");
    expect(await r3.command("DBSIZE")).not.toBe(":0");
    for (let i = 0; i < keys.length; i += 500) {
      expect(await c.mget(...keys.slice(i, i + 500))).toEqual(keys.slice(i, i + 500).map((k) => `value-${k}`));
    }

    // A replica for group 3 from the page: add, sync (SLAVEOF), promote it, remove the old master.
    await submit(page, "#f-add-server", { gid: 3, addr: r4.addr });
    await actionOk(page, `add ${r4.addr} to group 3`);
    const row4 = `#groups .group[data-key="3"] tr[data-key="${r4.addr}"]`;
    await page.click(`${row4} button[data-action="sync-server"]`);
    await actionOk(page, `sync ${r4.addr} from its master`);
    await waitFor(page, row4, (t) => /of 127\.0\.0\.1:\d+, link up/.test(t), 15_000);
    await page.click(`${row4} button[data-action="promote"]`);
    await confirm(page, `Promote ${r4.addr}?`);
    await actionOk(page, `promote ${r4.addr} in group 3`);
    st = await d.stats();
    expect(st.group.models.find((g) => g.id === 3)!.servers.map((s) => s.server)).toEqual([r4.addr, r3.addr]);
    // The new master stopped replicating, and the page says so once the dashboard polled its INFO.
    expect(await r4.command("INFO", "replication")).toContain("role:master");
    await waitFor(page, row4, (t) => /master\s*\d+ replica\(s\)/.test(t), 10_000);
    const row3 = `#groups .group[data-key="3"] tr[data-key="${r3.addr}"]`;
    await page.locator(`${row3} button[data-action="del-server"]`).waitFor();
    await waitFor(page, `${row3} td:first-child`, (t) => t === "1");
    await page.click(`${row3} button[data-action="del-server"]`);
    await confirm(page, `Remove ${r3.addr} from group 3?`);
    await actionOk(page, `remove ${r3.addr} from group 3`);
    st = await d.stats();
    expect(st.group.models.find((g) => g.id === 3)!.servers.map((s) => s.server)).toEqual([r4.addr]);
    // The promoted server serves group 3's slots through the proxy.
    const on3 = keys.find((k) => st.slots[slotOfKey(k)]!.group_id === 3)!;
    expect(await c.get(on3)).toBe(`value-${on3}`);

    // Group 0 in the assign form takes slots offline (codis's slots/assign/offline).
    await submit(page, "#f-assign", { beg: 1020, end: 1023, gid: 0 });
    await confirm(page, "Assign slots 1020–1023 to no group (offline)");
    await actionOk(page, "take slots 1020-1023 offline");
    st = await d.stats();
    expect(st.slots.slice(1020).map((m) => m.group_id)).toEqual([0, 0, 0, 0]);
    await waitFor(page, "#sum-slots", (t) => t === "1020 / 1024");

    await page.screenshot({ path: path.join(SHOTS, "console-after.png"), fullPage: true });
    // The proxy chart has drawn ops/s from the samples it collected.
    expect(await page.locator("#chart-ops polyline").count()).toBeGreaterThan(0);
    expect(errors).toEqual([]);
  }, 150_000); // about 25 s on a quiet 2-core machine; the bound leaves room for a loaded one
});
