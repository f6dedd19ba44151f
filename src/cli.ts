#!/usr/bin/env node
// slotway command line: proxy, dashboard, admin, demo.
import { parseArgs } from "node:util";
import { loadProxyConfig } from "./control/config.js";
import { ConfigError, validateProxyConfig, type ProxyConfig } from "./core/config-schema.js";
import { checkUlimit, intFlag, logToFile, writePidFile } from "./control/launch.js";
import { ProxyServer } from "./control/proxy.js";
import { VERSION } from "./version.js";
import { log, setLogLevel } from "./log.js";

const HELP = `slotway ${VERSION}: a Redis-protocol cluster proxy (codis-compatible)

Usage:
  slotway proxy [--config FILE] [--dashboard ADDR | --filesystem ROOT | --etcd ADDR | --etcdv2 ADDR |
                --zookeeper ADDR | --fillslots FILE] [codis-proxy flags, see below]
  slotway dashboard [--config FILE] [codis-dashboard flags]   (slotway dashboard --help)
  slotway admin --dashboard ADDR ...                          (slotway admin --help)
  slotway demo [--port N] [--redis-ports A,B]
  slotway --help | --version

Commands:
  proxy       Serve Redis clients, routing each key by slot to its backend group.
              Standalone: list [[group]] tables (id, servers, slots) in the config and it
              serves at once. With --dashboard ADDR it announces itself to a codis or slotway
              dashboard and waits (answering "ERR router is not online") until it is filled
              and started. With --fillslots FILE it fills from a JSON array of codis slots.
  dashboard   Run the control plane: topology, slot assignment, migration (codis-dashboard API).
  admin       Drive a dashboard from the command line (codis-admin flag names).
  demo        Start two local redis-server processes and a proxy in front of them.

Proxy flags (codis-proxy's, with their meaning; --flag=VALUE and --flag VALUE both work):
  -c, --config FILE        proxy.toml (codis keys plus slotway keys; see README); defaults without it
  --dashboard ADDR         dashboard admin address host:port to announce to
  --filesystem ROOT        find the dashboard in a filesystem coordinator store (codis layout)
  --etcd ADDR              ... in etcd through its v3 API (host:port[,host:port...])
  --etcdv2 ADDR            ... in etcd through its v2 API (as codis 3.2 keeps it)
  --etcd-auth USER:PWD     etcd user (v3 and v2)
  --zookeeper ADDR         ... in ZooKeeper; --zookeeper-auth USER:PWD (digest)
  --fillslots FILE         JSON array of codis Slot objects to fill at start
  --product_name NAME      override product_name; --product_auth, --session_auth likewise
  --host-admin HOST        host published in the admin address when admin_addr binds 0.0.0.0
  --host-proxy HOST        likewise for proxy_addr
  --ncpu N                 cores to use: workers = N/2 (at least 1) unless proxy_workers or --workers
  --max-ncpu N             accepted (codis's GOMAXPROCS autoscaling); no effect
  --workers N              worker threads (overrides proxy_workers and --ncpu)
  -l, --log FILE           log to FILE.YYYY-MM-DD (a new file each day) instead of stderr
  --log-level L            error | warn | info | debug (codis's INFO, WARN, ... too)
  --pidfile FILE           write the pid there; removed at exit
  --ulimit N               refuse to start when 'ulimit -n' is below N
  --default-config         print a proxy.toml with every key and its default
  --version                print the version

Exit codes: 0 ok, 1 runtime failure, 2 invalid configuration or usage.
Signals: SIGHUP reloads the config file; SIGINT/SIGTERM stop.
`;

async function main(argv: string[]): Promise<number> {
  const cmd = argv[0];
  if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") {
    process.stdout.write(HELP);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === "--version" || cmd === "-v") {
    process.stdout.write(`slotway ${VERSION}\n`);
    return 0;
  }
  const rest = argv.slice(1);
  switch (cmd) {
    case "proxy":
      return runProxy(rest);
    case "dashboard":
      return (await loadCommand("./control/dashboard/main.js", "runDashboard"))(rest);
    case "admin":
      return (await loadCommand("./control/admin-cli.js", "runAdmin"))(rest);
    case "demo":
      return (await loadCommand("./control/demo.js", "runDemo"))(rest);
    default:
      process.stderr.write(`slotway: unknown command "${cmd}"\n\n${HELP}`);
      return 2;
  }
}

type Command = (args: string[]) => Promise<number>;

/** Loads a command's module on demand, so `slotway proxy` does not load the dashboard. */
async function loadCommand(path: string, name: string): Promise<Command> {
  const m = (await import(path)) as Record<string, Command>;
  return m[name]!;
}

async function runProxy(args: string[]): Promise<number> {
  const str = { type: "string" } as const;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: "string", short: "c" },
        dashboard: str, fillslots: str, filesystem: str, etcd: str, etcdv2: str, "etcd-auth": str,
        zookeeper: str, "zookeeper-auth": str, workers: str, ncpu: str, "max-ncpu": str,
        log: { type: "string", short: "l" }, "log-level": str, pidfile: str, ulimit: str,
        product_name: str, product_auth: str, session_auth: str, "host-admin": str, "host-proxy": str,
        "default-config": { type: "boolean" }, version: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`slotway proxy: ${(e as Error).message}\n`);
    return 2;
  }
  const v = (k: string): string | undefined => values[k] as string | undefined;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`version: ${VERSION}\ncompile: node ${process.version}\n`);
    return 0;
  }
  if (values["default-config"]) {
    const { sampleConfig } = await import("./core/config-docs.js");
    process.stdout.write(sampleConfig());
    return 0;
  }
  const modes = ["dashboard", "fillslots", "filesystem", "etcd", "etcdv2", "zookeeper"].filter((k) => v(k) !== undefined);
  if (modes.length > 1) {
    process.stderr.write(`slotway proxy: --${modes.join(" and --")} exclude each other\n`);
    return 2;
  }
  const coordinator = v("filesystem") !== undefined ? { name: "filesystem", addr: v("filesystem")! }
    : v("etcd") !== undefined ? { name: "etcd", addr: v("etcd")!, auth: v("etcd-auth") }
      : v("etcdv2") !== undefined ? { name: "etcdv2", addr: v("etcdv2")!, auth: v("etcd-auth") }
        : v("zookeeper") !== undefined ? { name: "zookeeper", addr: v("zookeeper")!, auth: v("zookeeper-auth") }
          : undefined;
  let loaded;
  const overrides: Partial<ProxyConfig> = {};
  let ncpu: number | undefined;
  try {
    if (v("ulimit") !== undefined) checkUlimit(intFlag("ulimit", v("ulimit")!));
    loaded = v("config") !== undefined ? loadProxyConfig(v("config")!) : validateProxyConfig({});
    for (const k of ["product_name", "product_auth", "session_auth"] as const) {
      if (v(k) !== undefined) overrides[k] = v(k)!;
    }
    Object.assign(loaded.config, overrides);
    if (v("ncpu") !== undefined) ncpu = intFlag("ncpu", v("ncpu")!, 1, 1024);
    if (v("max-ncpu") !== undefined) intFlag("max-ncpu", v("max-ncpu")!, 1, 1024);
    if (v("workers") !== undefined) {
      const n = Number(v("workers"));
      if (!Number.isInteger(n) || n < 0 || n > 256) throw new ConfigError("--workers", "must be an integer 0-256");
      loaded.config.proxy_workers = n;
    } else if (ncpu !== undefined && loaded.config.proxy_workers === 0) {
      // codis's --ncpu is the cores the proxy may use; slotway runs one worker per two cores.
      loaded.config.proxy_workers = Math.max(1, Math.floor(ncpu / 2));
    }
    const level = v("log-level");
    if (level !== undefined) {
      const name = level.toLowerCase() === "warning" ? "warn" : level.toLowerCase();
      if (!setLogLevel(name)) throw new ConfigError("--log-level", "must be error, warn, info or debug");
      loaded.config.log_level = name;
    }
  } catch (e) {
    process.stderr.write(`slotway: ${(e as Error).message}\n`);
    return 2;
  }
  let restoreLog: (() => void) | undefined;
  try {
    if (v("log") !== undefined) restoreLog = logToFile(v("log")!);
  } catch (e) {
    process.stderr.write(`slotway: open log file ${v("log")} failed: ${(e as Error).message}\n`);
    return 1;
  }
  setLogLevel(loaded.config.log_level);
  for (const w of loaded.warnings) log.warn(w);
  if (ncpu !== undefined) log.warn(`set ncpu = ${ncpu}: ${loaded.config.proxy_workers || "default"} worker thread(s)`);
  const proxy = new ProxyServer({
    configPath: v("config") ?? "",
    config: loaded.config,
    dashboard: v("dashboard"),
    fillSlotsFile: v("fillslots"),
    coordinator,
    hostAdmin: v("host-admin"),
    hostProxy: v("host-proxy"),
    overrides,
  });
  // Installed before starting: SIGHUP's default action would kill a proxy that is still
  // starting, and an operator may send it as soon as the admin port answers.
  let started = false;
  let reloadWhenStarted = false;
  process.on("SIGHUP", () => {
    if (started) void proxy.reload();
    else reloadWhenStarted = true; // applied as soon as the proxy is up
  });
  let removePid: (() => void) | undefined;
  try {
    await proxy.start();
    started = true;
    if (v("pidfile") !== undefined) removePid = writePidFile(v("pidfile")!);
    if (reloadWhenStarted) void proxy.reload();
  } catch (e) {
    log.error(`cannot start: ${(e as Error).message}`);
    await proxy.close().catch(() => undefined);
    restoreLog?.();
    return 1;
  }
  return new Promise<number>((resolve) => {
    const stop = (sig: string) => {
      log.info(`${sig}: stopping`);
      void proxy.close().then(() => {
        removePid?.();
        log.warn("proxy is exiting");
        restoreLog?.();
        resolve(0);
      });
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  });
}

/** Exits once stdout and stderr have been handed to the OS: a pipe must get every byte. */
function exitAfterOutput(code: number): void {
  process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
}

main(process.argv.slice(2)).then(exitAfterOutput, (err: unknown) => {
  process.stderr.write(`slotway: ${(err as Error).stack ?? String(err)}\n`);
  exitAfterOutput(1);
});
