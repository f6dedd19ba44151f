// The proxy configuration as one typed table: every key with its type, unit, default,
// range, one-line doc and whether SIGHUP reloads it. The loader, the validation messages,
// the sample config and the README table all come from this table (a test checks that the
// README and config/proxy.toml agree with it).
//
// codis proxy.toml keys are accepted as they are, with codis's units ("30s", "128kb").
// Keys that only make sense for codis's Go runtime or for services slotway does not speak
// (influxdb, statsd) are accepted and marked "accepted, no effect" so existing files
// load unchanged; setting them to a non-default value prints a warning.

import { parseDuration, parseSize, formatDuration, formatSize } from "./units.js";
import { parseSlotRanges, SLOT_COUNT } from "./slot.js";

export type KeyType = "string" | "int" | "bool" | "duration" | "size" | "addr" | "enum";

export interface KeyDef {
  name: string;
  type: KeyType;
  /** Default in the file's own notation (string for duration/size/addr). */
  default: string | number | boolean;
  doc: string;
  /** Applied on SIGHUP without a restart. */
  reload: boolean;
  min?: number;
  max?: number;
  values?: readonly string[];
  /** Accepted for codis compatibility but has no effect in slotway. */
  inert?: boolean;
}

export const PROXY_KEYS: readonly KeyDef[] = [
  { name: "product_name", type: "string", default: "codis-demo", reload: false, doc: "Product (cluster) name; part of the admin API xauth." },
  { name: "product_auth", type: "string", default: "", reload: false, doc: "Password sent with AUTH to every backend; part of the admin API xauth." },
  { name: "session_auth", type: "string", default: "", reload: true, doc: "Password clients must send with AUTH before any other command (empty: none)." },
  { name: "admin_addr", type: "addr", default: "0.0.0.0:11080", reload: false, doc: "Listen address of the admin HTTP API (codis routes, /metrics)." },
  { name: "admin_secret", type: "string", default: "", reload: true, doc: "slotway: when set, admin API routes that change something also need this value in the X-Slotway-Admin-Secret header (codis tools cannot send it; leave empty for them)." },
  { name: "proto_type", type: "enum", default: "tcp4", values: ["tcp", "tcp4", "tcp6", "unix"], reload: false, doc: "Protocol of proxy_addr: tcp, tcp4, tcp6 or unix (a socket path)." },
  { name: "proxy_addr", type: "string", default: "0.0.0.0:19000", reload: false, doc: "Listen address for Redis clients: host:port, or a socket path when proto_type is unix." },
  { name: "proxy_datacenter", type: "string", default: "", reload: false, doc: "Datacenter of this proxy, used to order replica groups." },
  { name: "proxy_max_clients", type: "int", default: 1000, min: 1, max: 10_000_000, reload: true, doc: "Maximum client connections; more are answered 'ERR max number of clients reached' and closed." },
  { name: "proxy_workers", type: "int", default: 0, min: 0, max: 256, reload: false, doc: "Worker threads serving clients (0: one per two CPU cores, at least one)." },
  { name: "proxy_max_offheap_size", type: "size", default: "1024mb", reload: false, inert: true, doc: "codis Go runtime setting; accepted, no effect." },
  { name: "proxy_heap_placeholder", type: "size", default: "256mb", reload: false, inert: true, doc: "codis Go runtime setting; accepted, no effect." },
  { name: "backend_ping_period", type: "duration", default: "5s", reload: true, doc: "PING idle backend connections this often to detect dead ones (0: off)." },
  { name: "backend_recv_bufsize", type: "size", default: "128kb", reload: false, inert: true, doc: "codis socket buffer setting; accepted, no effect (the kernel sizes buffers)." },
  { name: "backend_recv_timeout", type: "duration", default: "30s", reload: true, doc: "A backend connection with requests pending and no reply for this long is closed and its requests fail (0: off)." },
  { name: "backend_send_bufsize", type: "size", default: "128kb", reload: false, inert: true, doc: "codis socket buffer setting; accepted, no effect." },
  { name: "backend_send_timeout", type: "duration", default: "30s", reload: true, doc: "Connect timeout for backend connections (0: the OS default)." },
  { name: "backend_max_pipeline", type: "int", default: 20480, min: 1, reload: false, inert: true, doc: "codis channel size; accepted, no effect (slotway bounds work per client with session_max_pipeline)." },
  { name: "backend_primary_only", type: "bool", default: false, reload: true, doc: "Never send reads to replica groups." },
  { name: "backend_primary_parallel", type: "int", default: 1, min: 1, max: 64, reload: false, doc: "Connections per master backend per worker; requests of one slot always share one connection." },
  { name: "backend_replica_parallel", type: "int", default: 1, min: 1, max: 64, reload: false, doc: "Connections per replica backend per worker." },
  { name: "backend_keepalive_period", type: "duration", default: "75s", reload: false, doc: "TCP keepalive on backend connections (0: off)." },
  { name: "backend_number_databases", type: "int", default: 16, min: 1, max: 1024, reload: false, doc: "Databases clients may SELECT (0 to n-1)." },
  { name: "session_recv_bufsize", type: "size", default: "128kb", reload: false, inert: true, doc: "codis socket buffer setting; accepted, no effect." },
  { name: "session_recv_timeout", type: "duration", default: "30m", reload: true, doc: "Close a client connection idle (no request, nothing pending) this long (0: never)." },
  { name: "session_send_bufsize", type: "size", default: "64kb", reload: false, doc: "Reply bytes queued to a client before the proxy stops reading its requests." },
  { name: "session_send_timeout", type: "duration", default: "30s", reload: true, doc: "Close a client that accepts none of its queued replies for this long (0: never)." },
  { name: "session_max_pipeline", type: "int", default: 10000, min: 1, max: 10_000_000, reload: true, doc: "Unanswered requests per client; beyond it the proxy stops reading that client until replies drain." },
  { name: "session_keepalive_period", type: "duration", default: "75s", reload: false, doc: "TCP keepalive on client connections (0: off)." },
  { name: "session_break_on_failure", type: "bool", default: false, reload: true, doc: "Close the client connection after an error reply caused by a backend failure." },
  { name: "session_max_args", type: "int", default: 1048576, min: 1, max: 1048576 * 8, reload: true, doc: "Most arguments in one command (codis: 1048576)." },
  { name: "session_max_bulk_len", type: "size", default: "512mb", reload: true, min: 1, doc: "Longest argument in bytes (Redis proto-max-bulk-len)." },
  { name: "session_max_inline_len", type: "size", default: "64kb", reload: true, min: 16, doc: "Longest inline command line in bytes." },
  { name: "proxy_crossslot", type: "enum", default: "refuse", values: ["refuse", "first-key"], reload: true, doc: "Commands whose keys hash to several slots: refuse (-CROSSSLOT, as Redis Cluster) or first-key (codis: route by one key, unchecked)." },
  { name: "proxy_allow_keys", type: "bool", default: false, reload: true, doc: "Serve KEYS by asking every group (it scans every key of every backend)." },
  { name: "proxy_allow_flushdb", type: "bool", default: false, reload: true, doc: "Serve FLUSHDB by sending it to every group." },
  { name: "proxy_allow_flushall", type: "bool", default: false, reload: true, doc: "Serve FLUSHALL by sending it to every group." },
  { name: "backend_max_exclusive_conns", type: "int", default: 256, min: 1, max: 100_000, reload: true, doc: "Connections per backend per worker that serve one client at a time (blocked commands, transactions); beyond it such commands are refused." },
  { name: "session_max_pubsub_bufsize", type: "size", default: "32mb", reload: true, min: 1024, doc: "Messages queued to a subscriber that does not read; beyond it the connection is closed (Redis: client-output-buffer-limit pubsub)." },
  { name: "slot_drain_timeout", type: "duration", default: "30s", reload: true, min: 1, doc: "How long a slot change waits for the slot's in-flight requests to finish before it fails." },
  { name: "slot_lock_wait_timeout", type: "duration", default: "5s", reload: true, min: 0, doc: "How long a request of a locked slot (a migration step the dashboard has not finished) waits; then it fails, not run, with an error naming the slot. The slot stays locked until the dashboard's next step (0: wait for ever, as codis)." },
  { name: "log_level", type: "enum", default: "info", values: ["error", "warn", "info", "debug"], reload: true, doc: "Log verbosity." },
  { name: "jodis_name", type: "string", default: "", reload: false, doc: "jodis coordinator: zookeeper (zk), etcd (v3 API) or etcdv2; with jodis_addr the proxy registers itself there while online." },
  { name: "jodis_addr", type: "string", default: "", reload: false, doc: "jodis coordinator address(es), host:port[,host:port...]; empty: no jodis registration." },
  { name: "jodis_auth", type: "string", default: "", reload: false, doc: "jodis coordinator user:password (ZooKeeper digest, etcd basic/user auth)." },
  { name: "jodis_timeout", type: "duration", default: "20s", reload: false, doc: "jodis node lifetime without this proxy: ZooKeeper session timeout, etcd TTL/lease (refreshed every half)." },
  { name: "jodis_compatible", type: "bool", default: false, reload: false, doc: "Register at codis 2's path /zk/codis/db_<product>/proxy/<token> instead of /jodis/<product>/proxy-<token>." },
  { name: "metrics_report_server", type: "string", default: "", reload: false, inert: true, doc: "codis metrics push; accepted, not supported (scrape /metrics instead)." },
  { name: "metrics_report_period", type: "duration", default: "1s", reload: false, inert: true, doc: "codis metrics push; accepted, not supported." },
  { name: "metrics_report_influxdb_server", type: "string", default: "", reload: false, inert: true, doc: "codis metrics push; accepted, not supported." },
  { name: "metrics_report_influxdb_period", type: "duration", default: "1s", reload: false, inert: true, doc: "codis metrics push; accepted, not supported." },
  { name: "metrics_report_influxdb_username", type: "string", default: "", reload: false, inert: true, doc: "codis metrics push; accepted, not supported." },
  { name: "metrics_report_influxdb_password", type: "string", default: "", reload: false, inert: true, doc: "codis metrics push; accepted, not supported." },
  { name: "metrics_report_influxdb_database", type: "string", default: "", reload: false, inert: true, doc: "codis metrics push; accepted, not supported." },
  { name: "metrics_report_statsd_server", type: "string", default: "", reload: false, inert: true, doc: "codis metrics push; accepted, not supported." },
  { name: "metrics_report_statsd_period", type: "duration", default: "1s", reload: false, inert: true, doc: "codis metrics push; accepted, not supported." },
  { name: "metrics_report_statsd_prefix", type: "string", default: "", reload: false, inert: true, doc: "codis metrics push; accepted, not supported." },
];

/** A backend group given in the file (standalone mode, no dashboard). */
export interface GroupConfig {
  id: number;
  /** servers[0] is the master, the rest are replicas. */
  servers: string[];
  slots: number[];
}

/** The validated configuration; durations in ms, sizes in bytes. */
export interface ProxyConfig {
  product_name: string;
  product_auth: string;
  session_auth: string;
  admin_addr: string;
  admin_secret: string;
  proto_type: string;
  proxy_addr: string;
  proxy_datacenter: string;
  proxy_max_clients: number;
  proxy_workers: number;
  backend_ping_period: number;
  backend_recv_timeout: number;
  backend_send_timeout: number;
  backend_primary_only: boolean;
  backend_primary_parallel: number;
  backend_replica_parallel: number;
  backend_keepalive_period: number;
  backend_number_databases: number;
  session_recv_timeout: number;
  session_send_bufsize: number;
  session_send_timeout: number;
  session_max_pipeline: number;
  session_keepalive_period: number;
  session_break_on_failure: boolean;
  session_max_args: number;
  session_max_bulk_len: number;
  session_max_inline_len: number;
  slot_drain_timeout: number;
  proxy_crossslot: string;
  proxy_allow_keys: boolean;
  proxy_allow_flushdb: boolean;
  proxy_allow_flushall: boolean;
  backend_max_exclusive_conns: number;
  session_max_pubsub_bufsize: number;
  slot_lock_wait_timeout: number;
  log_level: string;
  groups: GroupConfig[];
  [key: string]: unknown;
}

/** A configuration error naming the key and the reason. */
export class ConfigError extends Error {
  constructor(readonly key: string, reason: string) {
    super(`invalid ${key}: ${reason}`);
    this.name = "ConfigError";
  }
}

/** The coordinators a proxy can register with for jodis (codis: zookeeper, etcd; slotway adds etcdv2). */
export const JODIS_NAMES: readonly string[] = ["zookeeper", "zk", "etcd", "etcdv2"];

const BY_NAME = new Map(PROXY_KEYS.map((k) => [k.name, k]));

/** Converts one raw value by its definition, or throws ConfigError naming the key. */
function convert(def: KeyDef, raw: unknown): string | number | boolean {
  const bad = (why: string): never => {
    throw new ConfigError(def.name, why);
  };
  let v: string | number | boolean;
  switch (def.type) {
    case "string":
      if (typeof raw !== "string") bad("must be a string");
      v = raw as string;
      break;
    case "bool":
      if (typeof raw !== "boolean") bad("must be true or false");
      v = raw as boolean;
      break;
    case "int":
      if (typeof raw !== "number" && typeof raw !== "bigint") bad("must be an integer");
      v = Number(raw);
      if (!Number.isSafeInteger(v)) bad("must be an integer");
      break;
    case "duration": {
      if (typeof raw === "number") bad(`must be a duration string such as "30s" (a bare number has no unit)`);
      if (typeof raw !== "string") bad(`must be a duration string such as "30s"`);
      const ms = parseDuration(raw as string);
      if (ms === undefined || ms < 0) bad(`"${raw}" is not a duration (use ms, s, m or h, e.g. "30s")`);
      v = ms!;
      break;
    }
    case "size": {
      if (typeof raw !== "string" && typeof raw !== "number") bad(`must be a size such as "128kb"`);
      const n = typeof raw === "number" ? raw : parseSize(raw as string);
      if (n === undefined || n < 0) bad(`"${raw}" is not a size (use b, kb, mb or gb, e.g. "128kb")`);
      v = n!;
      break;
    }
    case "addr": {
      if (typeof raw !== "string") bad(`must be a "host:port" string`);
      const m = /^(.*):(\d+)$/.exec(raw as string);
      if (!m || Number(m[2]) > 65535) bad(`"${raw}" is not host:port`);
      v = raw as string;
      break;
    }
    case "enum":
      if (typeof raw !== "string" || !def.values!.includes(raw.toLowerCase())) {
        bad(`must be one of ${def.values!.join(", ")}`);
      }
      v = (raw as string).toLowerCase();
      break;
  }
  if (typeof v === "number") {
    if (def.min !== undefined && v < def.min) bad(`must be ≥ ${def.min}`);
    if (def.max !== undefined && v > def.max) bad(`must be ≤ ${def.max}`);
  }
  return v;
}

export interface Validated {
  config: ProxyConfig;
  /** Non-fatal remarks (inert keys set, unsupported features asked for). */
  warnings: string[];
}

/**
 * Validates a parsed TOML object. Unknown keys are errors (a typo must not pass silently);
 * missing keys take their defaults.
 */
export function validateProxyConfig(raw: Record<string, unknown>): Validated {
  const out: Record<string, unknown> = {};
  const warnings: string[] = [];
  for (const def of PROXY_KEYS) out[def.name] = convert(def, def.default);
  for (const [key, value] of Object.entries(raw)) {
    if (key === "group") continue;
    const def = BY_NAME.get(key);
    if (!def) throw new ConfigError(key, "unknown key");
    const v = convert(def, value);
    out[key] = v;
    if (def.inert && v !== convert(def, def.default)) {
      warnings.push(`${key} is accepted for codis compatibility but has no effect in slotway`);
    }
  }
  // proxy_addr depends on proto_type: a socket path for unix, host:port otherwise.
  const addr = out.proxy_addr as string;
  if (out.proto_type === "unix") {
    if (addr === "" || addr.includes("\0")) throw new ConfigError("proxy_addr", "must be a socket path when proto_type is unix");
  } else {
    convert({ ...BY_NAME.get("admin_addr")!, name: "proxy_addr" }, addr);
  }
  // codis's rules: a jodis_name needs a jodis_addr, and an address needs a known coordinator.
  if (out.jodis_name !== "" && out.jodis_addr === "") throw new ConfigError("jodis_addr", "must be set when jodis_name is");
  if (out.jodis_addr !== "" && !JODIS_NAMES.includes(out.jodis_name as string)) {
    throw new ConfigError("jodis_name", `must be one of ${JODIS_NAMES.join(", ")} when jodis_addr is set`);
  }
  out.groups = validateGroups(raw.group);
  return { config: out as ProxyConfig, warnings };
}

function validateGroups(raw: unknown): GroupConfig[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new ConfigError("group", "must be an array of tables ([[group]])");
  const owner = new Map<number, number>();
  const ids = new Set<number>();
  return raw.map((g: unknown, i: number) => {
    const at = `group[${i}]`;
    if (typeof g !== "object" || g === null) throw new ConfigError(at, "must be a table");
    const t = g as Record<string, unknown>;
    for (const k of Object.keys(t)) {
      if (!["id", "servers", "slots"].includes(k)) throw new ConfigError(`${at}.${k}`, "unknown key");
    }
    const id = Number(t.id);
    if (!Number.isInteger(id) || id < 1 || id > 9999) throw new ConfigError(`${at}.id`, "must be an integer 1-9999");
    if (ids.has(id)) throw new ConfigError(`${at}.id`, `group ${id} is defined twice`);
    ids.add(id);
    const servers = t.servers;
    if (!Array.isArray(servers) || servers.length === 0) {
      throw new ConfigError(`${at}.servers`, `must be a non-empty array of "host:port" (the first is the master)`);
    }
    for (const s of servers) {
      if (typeof s !== "string" || !/^.+:\d{1,5}$/.test(s)) {
        throw new ConfigError(`${at}.servers`, `"${String(s)}" is not host:port`);
      }
    }
    let slots: number[] = [];
    if (t.slots !== undefined) {
      if (typeof t.slots !== "string") throw new ConfigError(`${at}.slots`, `must be a string such as "0-511"`);
      try {
        slots = parseSlotRanges(t.slots);
      } catch (e) {
        throw new ConfigError(`${at}.slots`, (e as Error).message);
      }
    }
    for (const s of slots) {
      const prev = owner.get(s);
      if (prev !== undefined && prev !== id) {
        throw new ConfigError(`${at}.slots`, `slot ${s} is also given to group ${prev}`);
      }
      owner.set(s, id);
    }
    return { id, servers: servers as string[], slots };
  });
}

/** Slots not covered by any group (they answer "slot is not ready"). */
export function uncoveredSlots(groups: GroupConfig[]): number {
  const seen = new Uint8Array(SLOT_COUNT);
  for (const g of groups) for (const s of g.slots) seen[s] = 1;
  return seen.reduce((n, v) => n + (v ? 0 : 1), 0);
}

/** The default of a key in the file's notation (for docs and the sample config). */
export function formatDefault(def: KeyDef): string {
  const d = def.default;
  if (def.type === "duration" && typeof d === "number") return `"${formatDuration(d)}"`;
  if (def.type === "size" && typeof d === "number") return `"${formatSize(d)}"`;
  return typeof d === "string" ? `"${d}"` : String(d);
}
