// GET /metrics of the dashboard (Prometheus text): what each group server is, and how slot
// migrations go. The proxy's /metrics (control/proxy.ts) covers traffic; the backend kinds live
// here because only the dashboard asks the servers what they are.
import { ActionState } from "../models.js";
import type { Topom } from "./topom.js";

const esc = (s: string): string => s.replace(/["\\\n]/g, "_");

export function dashboardMetrics(t: Topom): string {
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, values: [string, number][]): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of values) lines.push(`${name}${labels} ${v}`);
  };
  const online = t.isOnline();
  metric("slotway_dashboard_online", "gauge", "1 when the dashboard holds the product lock.", [["", online ? 1 : 0]]);
  if (!online) return lines.join("\n") + "\n";
  const topo = t.topology();
  const backends = t.stats.backends();
  const info: [string, number][] = [];
  const slotNumbers: [string, number][] = [];
  const pikaSlots: [string, number][] = [];
  for (const g of topo.sortedGroups()) {
    g.servers.forEach(({ server }, i) => {
      const b = backends[server];
      const role = i === 0 ? "master" : "replica";
      const base = `addr="${esc(server)}",group="${g.id}",role="${role}"`;
      info.push([`{${base},kind="${esc(b?.kind ?? "unknown")}",server="${esc(b?.server ?? "unknown")}",version="${esc(b?.version ?? "")}"}`, 1]);
      if (b?.slot_numbers_ok !== undefined) slotNumbers.push([`{addr="${esc(server)}"}`, b.slot_numbers_ok ? 1 : 0]);
      if (b?.pika_slots) {
        pikaSlots.push([`{addr="${esc(server)}",as="master"}`, b.pika_slots.master]);
        pikaSlots.push([`{addr="${esc(server)}",as="replica"}`, b.pika_slots.total - b.pika_slots.master]);
        pikaSlots.push([`{addr="${esc(server)}",as="replica_not_linked"}`, b.pika_slots.not_linked]);
      }
    });
  }
  metric("slotway_dashboard_backend_info", "gauge", "A group server: its kind (redis, codis-server, pika-classic, pika-sharding) and version.", info);
  metric("slotway_dashboard_backend_slot_numbers_ok", "gauge", "Pika classic: 1 when SLOTSHASHKEY agrees with slotway's slots (0 on Pika 3.5.0).", slotNumbers);
  metric("slotway_dashboard_pika_slots", "gauge", "Pika 3.4: slots a server holds, as master, as replica, and replicas whose link is down.", pikaSlots);
  const states = new Map<string, number>();
  for (const m of topo.slots) if (m.action.state !== ActionState.Nothing) states.set(m.action.state, (states.get(m.action.state) ?? 0) + 1);
  metric("slotway_dashboard_slot_actions", "gauge", "Slots with a migration action, by state.", [...states].map(([s, n]) => [`{state="${s}"}`, n]));
  metric("slotway_dashboard_migrations_stopped", "gauge", "Migrations that stopped with the route left on the source (see the overview's slot_action.stopped).", [["", t.engine.stopped.size]]);
  const pace = t.engine.pace.snapshot();
  metric("slotway_dashboard_migration_pace_keys_per_second", "gauge", "Keys per second each bulk mover may move now (migration_keep_client_ops_percent); -1: no limit.", [["", pace.keys_per_sec_limit]]);
  metric("slotway_dashboard_migration_client_share", "gauge", "While slots move: the clients' ops/s at the last poll as a share of their ops/s before (-1 when not moving).", [["", pace.share]]);
  metric("slotway_dashboard_migration_baseline_ops", "gauge", "The clients' ops/s before the slots started moving, as the pace uses it (0: none measured).", [["", pace.baseline_ops]]);
  const l = t.replication.locks;
  metric("slotway_dashboard_pika_locks_total", "counter", "Pika 3.4 slots moved by replication (each locked once for the final catch-up).", [["", l.count]]);
  metric("slotway_dashboard_pika_lock_ms", "gauge", "Pika 3.4: how long a moved slot was locked in the proxies (last, max, avg).",
    [["{stat=\"last\"}", l.lastMs], ["{stat=\"max\"}", l.maxMs], ["{stat=\"avg\"}", l.count ? l.totalMs / l.count : 0]]);
  metric("slotway_dashboard_pika_cleanup_pending", "gauge", "Pika 3.4: source copies of moved slots waiting for pkcluster delslots.", [["", t.pikaCleanup.list().length]]);
  return lines.join("\n") + "\n";
}
