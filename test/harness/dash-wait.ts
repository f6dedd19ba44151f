// Waits shared by the cluster tests that drive a slotway dashboard: a proxy announced to it and
// online, and slots settled on a group.
import { type Dashboard } from "./dashboard.js";
import { startSlotway, type Slotway } from "./slotway.js";
import { until } from "./wait.js";

/** Starts a 2-worker proxy announced to the dashboard; resolves once the dashboard sees it online. */
export async function addProxy(d: Dashboard): Promise<Slotway> {
  const p = await startSlotway({ workers: 2, args: ["--dashboard", d.addr], config: { backend_recv_timeout: "10s" } });
  await until("proxy online", async () => {
    const st = await d.stats();
    const m = st.proxy.models.find((x) => x.admin_addr === p.adminAddr);
    return m && st.proxy.stats[m.token]?.stats?.online;
  }, 20_000, 50);
  return p;
}

/** Waits for the slots to be on gid with no action; on timeout the error shows the dashboard's view. */
export async function moved(d: Dashboard, sids: number[], gid: number, ms = 25_000): Promise<void> {
  let last = "";
  try {
    await until(`slots ${sids.length > 8 ? `${sids[0]}-${sids[sids.length - 1]}` : sids.join(",")} on group-${gid}`, async () => {
      const st = await d.stats();
      last = JSON.stringify({ slots: sids.slice(0, 8).map((s) => st.slots[s]), action: st.slot_action });
      return sids.every((s) => st.slots[s]!.group_id === gid && !st.slots[s]!.action?.state);
    }, ms, 50);
  } catch (e) {
    throw new Error(`${String(e)}\nlast stats: ${last}\ndashboard log tail:\n${d.output().split("\n").slice(-30).join("\n")}`);
  }
}
