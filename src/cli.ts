#!/usr/bin/env node
// slotway command line: proxy, dashboard, admin, demo.
import { parseArgs } from "node:util";
import { loadProxyConfig } from "./control/config.js";
import { ConfigError } from "./core/config-schema.js";
import { ProxyServer } from "./control/proxy.js";
import { VERSION } from "./version.js";
import { log, setLogLevel } from "./log.js";

const HELP = `slotway ${VERSION}: a Redis-protocol cluster proxy (codis-compatible)

Usage:
  slotway proxy --config FILE [--dashboard ADDR | --filesystem ROOT | --etcd ADDR [--etcd-auth U:P] |
                              --fillslots FILE] [--workers N] [--log-level L]
  slotway dashboard --config FILE
  slotway admin --dashboard ADDR [command flags]   (slotway admin --help)
  slotway fe --listen ADDR (--dashboard-list FILE | --filesystem ROOT | --etcd ADDR | --zookeeper ADDR ...)
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
  fe          The web console for several products, as codis-fe (slotway fe --help). A
              dashboard serves the same console itself at http://<admin_addr>/ui/.
  demo        Start two local redis-server processes and a proxy in front of them.

Proxy flags:
  --config FILE       proxy.toml (codis keys plus slotway keys; see README)
  --dashboard ADDR    dashboard admin address host:port to announce to
  --filesystem ROOT   find the dashboard in a filesystem coordinator store (codis layout)
  --etcd ADDR         find the dashboard in etcd (host:port[,host:port...]); --etcd-auth USER:PASSWORD
  --fillslots FILE    JSON array of codis Slot objects to fill at start
  --workers N         override proxy_workers
  --log-level L       error | warn | info | debug (overrides log_level)

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
    case "fe":
      return (await loadCommand("./control/console/fe.js", "runFe"))(rest);
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
  let values: {
    config?: string; dashboard?: string; fillslots?: string; workers?: string; "log-level"?: string; help?: boolean;
    filesystem?: string; etcd?: string; "etcd-auth"?: string; zookeeper?: string;
  };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: "string", short: "c" },
        dashboard: { type: "string" },
        fillslots: { type: "string" },
        filesystem: { type: "string" },
        etcd: { type: "string" },
        "etcd-auth": { type: "string" },
        zookeeper: { type: "string" },
        workers: { type: "string" },
        "log-level": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`slotway proxy: ${(e as Error).message}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values.config) {
    process.stderr.write("slotway proxy: --config FILE is required\n");
    return 2;
  }
  const modes = (["dashboard", "fillslots", "filesystem", "etcd", "zookeeper"] as const).filter((k) => values[k] !== undefined);
  if (modes.length > 1) {
    process.stderr.write(`slotway proxy: --${modes.join(" and --")} exclude each other\n`);
    return 2;
  }
  if (values.zookeeper !== undefined) {
    process.stderr.write("slotway proxy: zookeeper is not supported; use --filesystem or --etcd (or --dashboard)\n");
    return 2;
  }
  const coordinator = values.filesystem !== undefined
    ? { name: "filesystem", addr: values.filesystem }
    : values.etcd !== undefined
      ? { name: "etcd", addr: values.etcd, auth: values["etcd-auth"] }
      : undefined;
  let loaded;
  try {
    loaded = loadProxyConfig(values.config);
    if (values.workers !== undefined) {
      const n = Number(values.workers);
      if (!Number.isInteger(n) || n < 0 || n > 256) throw new ConfigError("--workers", "must be an integer 0-256");
      loaded.config.proxy_workers = n;
    }
    if (values["log-level"] !== undefined) {
      if (!setLogLevel(values["log-level"])) throw new ConfigError("--log-level", "must be error, warn, info or debug");
      loaded.config.log_level = values["log-level"].toLowerCase();
    }
  } catch (e) {
    process.stderr.write(`slotway: ${(e as Error).message}\n`);
    return 2;
  }
  setLogLevel(loaded.config.log_level);
  for (const w of loaded.warnings) log.warn(w);
  const proxy = new ProxyServer({
    configPath: values.config,
    config: loaded.config,
    dashboard: values.dashboard,
    fillSlotsFile: values.fillslots,
    coordinator,
  });
  // Installed before starting: SIGHUP's default action would kill a proxy that is still
  // starting, and an operator may send it as soon as the admin port answers.
  let started = false;
  let reloadWhenStarted = false;
  process.on("SIGHUP", () => {
    if (started) void proxy.reload();
    else reloadWhenStarted = true; // applied as soon as the proxy is up
  });
  try {
    await proxy.start();
    started = true;
    if (reloadWhenStarted) void proxy.reload();
  } catch (e) {
    log.error(`cannot start: ${(e as Error).message}`);
    await proxy.close().catch(() => undefined);
    return 1;
  }
  return new Promise<number>((resolve) => {
    const stop = (sig: string) => {
      log.info(`${sig}: stopping`);
      void proxy.close().then(() => resolve(0));
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
