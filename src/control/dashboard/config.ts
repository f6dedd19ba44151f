// The dashboard's configuration: the keys of codis's dashboard.toml with codis's defaults and
// units, plus slotway's `migration_method = "redis"`, `migration_max_keys_per_second` and
// `migration_keep_client_ops_percent`. One table describes every key; parsing,
// defaults, validation and the JSON shown in the overview all come from it.
import { readFileSync } from "node:fs";
import { parse as parseToml, TomlError } from "smol-toml";
import { formatDuration, formatSize, parseDuration, parseSize } from "../../core/units.js";
import type { ConfigJson } from "../models.js";
import { parseForwardMethod } from "../models.js";
import { coordinatorKind } from "../store/index.js";

export interface DashboardConfig {
  coordinator_name: string;
  coordinator_addr: string;
  coordinator_auth: string;
  product_name: string;
  product_auth: string;
  proxy_admin_secret: string;
  admin_addr: string;
  migration_method: string;
  migration_parallel_slots: number;
  migration_async_maxbulks: number;
  /** bytes */
  migration_async_maxbytes: number;
  migration_async_numkeys: number;
  /** ms */
  migration_timeout: number;
  /** slotway: keys the bulk mover moves per second at most; 0 = as fast as it can */
  migration_max_keys_per_second: number;
  /** slotway: percent of their ops/s before the move that clients keep while slots move (dashboard/pacer.ts); 0 = off */
  migration_keep_client_ops_percent: number;
  /** ms */
  sentinel_client_timeout: number;
  sentinel_quorum: number;
  sentinel_parallel_syncs: number;
  /** ms */
  sentinel_down_after: number;
  /** ms */
  sentinel_failover_timeout: number;
  sentinel_notification_script: string;
  sentinel_client_reconfig_script: string;
  /** ms: bound for a Pika 3.4 slot's replica to catch up (full sync + binlog) before it is locked. */
  pika_replication_timeout: number;
  /** bytes: binlog lag at which the slot is locked in every proxy for the final catch-up. */
  pika_replication_lock_lag: number;
  /** ms: bound of the lock for the final catch-up (lag 0 on a stable position); past it the slot is unlocked and retried. */
  pika_replication_lock_timeout: number;
  pika_replication_parallel_slots: number;
  /** ms: how long a moved slot's copy stays on the source before `pkcluster delslots`. */
  pika_delslots_grace: number;
  /** Pika 3.4: most slots one server may hold (each costs ~26 file descriptors). */
  pika_max_slots_per_server: number;
}

/** A config error; its message names the key. The CLI exits with code 2 on it. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

type Kind = "string" | "int" | "size" | "duration";

interface KeySpec {
  key: keyof DashboardConfig;
  kind: Kind;
  def: string | number;
  doc: string;
  /** Returns a reason when the (typed) value is invalid. */
  check?: (v: never) => string | undefined;
}

const PRODUCT_RE = /^[0-9A-Za-z_][0-9A-Za-z_.-]*$/;
const positive = (v: number): string | undefined => (v >= 1 ? undefined : "must be ≥ 1");
const nonEmpty = (v: string): string | undefined => (v !== "" ? undefined : "must not be empty");

/** Every dashboard.toml key, codis's defaults (config/dashboard.toml of codis 3.2). */
export const CONFIG_KEYS: readonly KeySpec[] = [
  {
    key: "coordinator_name", kind: "string", def: "filesystem",
    doc: "store kind: filesystem, etcd (v3 API), etcdv2 (v2 API, as codis 3.2 tools read it) or zookeeper",
    check: (v: string) => (coordinatorKind(v) !== undefined ? undefined : `must be "filesystem", "etcd", "etcdv2" or "zookeeper"`),
  },
  { key: "coordinator_addr", kind: "string", def: "/tmp/codis", doc: "store root folder (filesystem), or host:port[,host:port...] (etcd, etcdv2, zookeeper)", check: nonEmpty },
  { key: "coordinator_auth", kind: "string", def: "", doc: "user:password for etcd, etcdv2 or zookeeper (digest)" },
  {
    key: "product_name", kind: "string", def: "codis-demo", doc: "product (cluster) name",
    check: (v: string) => (PRODUCT_RE.test(v) ? undefined : `bad product name = ${v}`),
  },
  { key: "product_auth", kind: "string", def: "", doc: "password of the backend servers (and part of the proxies' xauth)" },
  { key: "proxy_admin_secret", kind: "string", def: "", doc: "slotway: the proxies' admin_secret, sent to them with every call (empty: none)" },
  { key: "admin_addr", kind: "string", def: "0.0.0.0:18080", doc: "HTTP API listen address", check: checkAddr },
  {
    key: "migration_method", kind: "string", def: "semi-async", doc: "sync | semi-async (codis-server) | redis (vanilla Redis/Valkey)",
    check: (v: string) => (parseForwardMethod(v) !== undefined ? undefined : `must be "sync", "semi-async" or "redis"`),
  },
  { key: "migration_parallel_slots", kind: "int", def: 100, doc: "slots migrated at a time", check: positive },
  { key: "migration_async_maxbulks", kind: "int", def: 200, doc: "semi-async: max bulks per message", check: positive },
  { key: "migration_async_maxbytes", kind: "size", def: "32mb", doc: "semi-async: max bytes per message", check: positive },
  { key: "migration_async_numkeys", kind: "int", def: 500, doc: "keys per bulk move step (semi-async and redis)", check: positive },
  { key: "migration_timeout", kind: "duration", def: "30s", doc: "timeout of one bulk move command", check: positive },
  {
    key: "migration_max_keys_per_second", kind: "int", def: 0,
    doc: "slotway: most keys the bulk mover moves per second, per pair of groups (0: no limit); lower it to trade migration speed for client latency",
    check: (v: number) => (v >= 0 ? undefined : "must be ≥ 0"),
  },
  {
    key: "migration_keep_client_ops_percent", kind: "int", def: 85,
    doc: "slotway: while slots move, the bulk movers slow down when the clients get less than this percent of the ops/s they got before (the proxies' counts); 0: movers at full speed (or migration_max_keys_per_second)",
    check: (v: number) => (v >= 0 && v <= 100 ? undefined : "must be 0-100"),
  },
  { key: "sentinel_client_timeout", kind: "duration", def: "10s", doc: "sentinel client timeout", check: positive },
  { key: "sentinel_quorum", kind: "int", def: 2, doc: "sentinel quorum", check: positive },
  { key: "sentinel_parallel_syncs", kind: "int", def: 1, doc: "sentinel parallel-syncs", check: positive },
  { key: "sentinel_down_after", kind: "duration", def: "30s", doc: "sentinel down-after-milliseconds", check: positive },
  { key: "sentinel_failover_timeout", kind: "duration", def: "5m", doc: "sentinel failover-timeout", check: positive },
  { key: "sentinel_notification_script", kind: "string", def: "", doc: "sentinel notification-script" },
  { key: "sentinel_client_reconfig_script", kind: "string", def: "", doc: "sentinel client-reconfig-script" },
  // slotway: Pika 3.4 (sharding) slots move by replication (dashboard/replication.ts).
  { key: "pika_replication_timeout", kind: "duration", def: "10m", doc: "Pika 3.4: bound for a slot's copy on the target to catch up before it is locked; past it the migration stops (route left on the source)", check: positive },
  { key: "pika_replication_lock_lag", kind: "size", def: "64kb", doc: "Pika 3.4: binlog lag (bytes) at which the slot is locked in every proxy for the final catch-up", check: (v: number) => (v >= 0 ? undefined : "must be ≥ 0") },
  { key: "pika_replication_lock_timeout", kind: "duration", def: "5s", doc: "Pika 3.4: longest lock for the final catch-up; past it the slot is unlocked and tried again (10 tries)", check: positive },
  { key: "pika_replication_parallel_slots", kind: "int", def: 32, doc: "Pika 3.4: slots replicating at a time (at most migration_parallel_slots); each attach is a pkcluster addslots that holds the server for 0.1-2 s under load", check: positive },
  { key: "pika_delslots_grace", kind: "duration", def: "30s", doc: "Pika 3.4: how long a moved slot's copy stays on the source before pkcluster delslots", check: (v: number) => (v >= 0 ? undefined : "must be ≥ 0") },
  { key: "pika_max_slots_per_server", kind: "int", def: 160, doc: "Pika 3.4: most slots one server may hold; each costs ~26 file descriptors and Pika 3.4 dies (and cannot restart) when it runs out. Pika always has maxclients + 5000 descriptors; raise ulimit -n before raising this", check: positive },
];

function checkAddr(v: string): string | undefined {
  const m = /^(.*):(\d+)$/.exec(v);
  if (!m) return "must be host:port";
  const port = Number(m[2]);
  return port <= 65535 ? undefined : "port out of range";
}

function typed(spec: KeySpec, raw: unknown): string | number {
  const where = `invalid ${spec.key}`;
  switch (spec.kind) {
    case "string":
      if (typeof raw !== "string") throw new ConfigError(`${where}: want a string`);
      return raw;
    case "int":
      if (typeof raw === "bigint" || (typeof raw === "number" && Number.isSafeInteger(raw))) return Number(raw);
      throw new ConfigError(`${where}: want an integer`);
    case "size": {
      if (typeof raw === "number" && Number.isSafeInteger(raw)) return raw;
      const n = typeof raw === "string" ? parseSize(raw) : undefined;
      if (n === undefined) throw new ConfigError(`${where}: want a size such as "32mb"`);
      return n;
    }
    case "duration": {
      const n = typeof raw === "string" ? parseDuration(raw) : undefined;
      if (n === undefined) throw new ConfigError(`${where}: want a duration such as "30s"`);
      return n;
    }
  }
}

/** The defaults, as codis's NewDefaultConfig gives them. */
export function defaultConfig(): DashboardConfig {
  const c: Record<string, unknown> = {};
  for (const s of CONFIG_KEYS) c[s.key] = typed(s, s.def);
  return c as unknown as DashboardConfig;
}

/**
 * Builds a config from parsed TOML values over the defaults. Throws ConfigError naming the key;
 * returns the unknown keys (codis ignores them, so we only warn).
 */
export function configFromValues(values: Record<string, unknown>): { config: DashboardConfig; unknown: string[] } {
  const c = defaultConfig() as unknown as Record<string, unknown>;
  const known = new Map(CONFIG_KEYS.map((s) => [s.key as string, s]));
  const unknown: string[] = [];
  for (const [k, raw] of Object.entries(values)) {
    const spec = known.get(k);
    if (!spec) {
      unknown.push(k);
      continue;
    }
    c[k] = typed(spec, raw);
  }
  const config = c as unknown as DashboardConfig;
  validateConfig(config);
  return { config, unknown };
}

/** Checks every key's range; throws ConfigError naming the first bad key. */
export function validateConfig(config: DashboardConfig): void {
  for (const s of CONFIG_KEYS) {
    const reason = s.check?.(config[s.key] as never);
    if (reason !== undefined) throw new ConfigError(`invalid ${s.key}: ${reason}`);
  }
}

/** Parses dashboard.toml text. */
export function parseConfigText(text: string): { config: DashboardConfig; unknown: string[] } {
  let values: Record<string, unknown>;
  try {
    values = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) throw new ConfigError(`invalid toml at line ${e.line}, column ${e.column}: ${e.message.split("\n")[0]}`);
    throw e;
  }
  return configFromValues(values);
}

/** Reads and parses a dashboard.toml file. */
export function loadConfigFile(path: string): { config: DashboardConfig; unknown: string[] } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read config ${path}: ${(e as Error).message}`);
  }
  return parseConfigText(text);
}

/** The config as the overview shows it: codis's JSON names, units as strings, no product_auth. */
export function configToJson(c: DashboardConfig): ConfigJson {
  return {
    coordinator_name: c.coordinator_name,
    coordinator_addr: c.coordinator_addr,
    coordinator_auth: c.coordinator_auth,
    admin_addr: c.admin_addr,
    product_name: c.product_name,
    migration_method: c.migration_method,
    migration_parallel_slots: c.migration_parallel_slots,
    migration_async_maxbulks: c.migration_async_maxbulks,
    migration_async_maxbytes: formatSize(c.migration_async_maxbytes),
    migration_async_numkeys: c.migration_async_numkeys,
    migration_timeout: formatDuration(c.migration_timeout),
    migration_max_keys_per_second: c.migration_max_keys_per_second,
    migration_keep_client_ops_percent: c.migration_keep_client_ops_percent,
    sentinel_client_timeout: formatDuration(c.sentinel_client_timeout),
    sentinel_quorum: c.sentinel_quorum,
    sentinel_parallel_syncs: c.sentinel_parallel_syncs,
    sentinel_down_after: formatDuration(c.sentinel_down_after),
    sentinel_failover_timeout: formatDuration(c.sentinel_failover_timeout),
    sentinel_notification_script: c.sentinel_notification_script,
    sentinel_client_reconfig_script: c.sentinel_client_reconfig_script,
    pika_replication_timeout: formatDuration(c.pika_replication_timeout),
    pika_replication_lock_lag: formatSize(c.pika_replication_lock_lag),
    pika_replication_lock_timeout: formatDuration(c.pika_replication_lock_timeout),
    pika_replication_parallel_slots: c.pika_replication_parallel_slots,
    pika_delslots_grace: formatDuration(c.pika_delslots_grace),
    pika_max_slots_per_server: c.pika_max_slots_per_server,
  };
}

/** A sample dashboard.toml with every key and its default. */
export function sampleConfig(): string {
  const lines = ["# slotway dashboard (codis dashboard.toml keys)", ""];
  for (const s of CONFIG_KEYS) {
    lines.push(`# ${s.doc}`);
    lines.push(`${s.key} = ${typeof s.def === "number" ? s.def : JSON.stringify(s.def)}`);
  }
  return lines.join("\n") + "\n";
}
