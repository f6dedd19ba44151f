// `slotway dashboard --config FILE`: the codis-dashboard replacement. Serves until SIGINT/SIGTERM
// or the shutdown route, then releases the product lock.
import { parseArgs } from "node:util";
import { logToFile, writePidFile } from "../launch.js";
import { topomPath } from "../store/layout.js";
import { defaultConnect } from "../movers/connect.js";
import { openStore } from "../store/index.js";
import { VERSION } from "../../version.js";
import { dashboardRouter } from "./api.js";
import { ConfigError, defaultConfig, loadConfigFile, sampleConfig, validateConfig, type DashboardConfig } from "./config.js";
import { errText, Logger, parseLogLevel, type LogLevel } from "./log.js";
import { Topom } from "./topom.js";

const USAGE = `Usage: slotway dashboard [--config FILE] [--log FILE] [--log-level LEVEL] [--host-admin HOST] [--pidfile FILE]
                         [--zookeeper ADDR | --etcd ADDR | --etcdv2 ADDR | --filesystem ROOT]
                         [--product_name NAME] [--product_auth AUTH] [--remove-lock] [--ncpu N]
       slotway dashboard --default-config | --version

Runs the control plane of a slotway (or codis) cluster with the codis-dashboard HTTP API:
groups, proxies, slot assignment and migration. FILE uses codis's dashboard.toml keys; without
it codis's defaults apply. migration_method may also be "redis" (vanilla Redis/Valkey groups).
The flags are codis-dashboard's, with their meaning.

  -c, --config FILE     dashboard.toml
  -l, --log FILE        log to FILE.YYYY-MM-DD (a new file each day) instead of stderr
  --log-level LEVEL     DEBUG, INFO, WARN, ERROR or NONE (default INFO)
  --host-admin HOST     host to publish in admin_addr when it binds 0.0.0.0
  --pidfile FILE        write the process id there while running
  --zookeeper ADDR      coordinator_name = "zookeeper", coordinator_addr = ADDR (auth: coordinator_auth)
  --etcd ADDR           coordinator "etcd" (etcd's v3 API)
  --etcdv2 ADDR         coordinator "etcdv2" (etcd's v2 API, where codis 3.2 tools look)
  --filesystem ROOT     coordinator "filesystem"
  --product_name NAME   override product_name; --product_auth AUTH likewise
  --remove-lock         remove the product's lock (left by a dashboard that died) before starting
  --ncpu N              accepted (codis's GOMAXPROCS); the dashboard is one thread
  --default-config      print a dashboard.toml with every key and its default

Exit status: 0 after a clean stop, 1 on a runtime failure (store, lock, listen), 2 on bad
arguments or configuration.
`;

/** Runs the dashboard; resolves with the exit status once it has stopped. */
export async function runDashboard(argv: string[]): Promise<number> {
  const str = { type: "string" } as const;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: "string", short: "c" },
        log: { type: "string", short: "l" },
        "host-admin": str, "log-level": str, pidfile: str, ncpu: str,
        zookeeper: str, etcd: str, etcdv2: str, filesystem: str, product_name: str, product_auth: str,
        "remove-lock": { type: "boolean" }, "default-config": { type: "boolean" }, version: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    process.stderr.write(`slotway dashboard: ${errText(e)}\n\n${USAGE}`);
    return 2;
  }
  const v = (k: string): string | undefined => values[k] as string | undefined;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`version: ${VERSION}\ncompile: node ${process.version}\n`);
    return 0;
  }
  if (values["default-config"]) {
    process.stdout.write(sampleConfig());
    return 0;
  }
  const level = parseLogLevel(v("log-level") ?? "INFO");
  if (!level) {
    process.stderr.write(`slotway dashboard: invalid --log-level ${v("log-level")}\n`);
    return 2;
  }
  const coordinators = ["zookeeper", "etcd", "etcdv2", "filesystem"].filter((k) => v(k) !== undefined);
  if (coordinators.length > 1) {
    process.stderr.write(`slotway dashboard: --${coordinators.join(" and --")} exclude each other\n`);
    return 2;
  }
  if (v("ncpu") !== undefined && !/^\d+$/.test(v("ncpu")!)) {
    process.stderr.write(`slotway dashboard: invalid --ncpu ${v("ncpu")}\n`);
    return 2;
  }
  let restoreLog: (() => void) | undefined;
  try {
    if (v("log") !== undefined) restoreLog = logToFile(v("log")!);
  } catch (e) {
    process.stderr.write(`slotway dashboard: open log file ${v("log")} failed: ${errText(e)}\n`);
    return 1;
  }
  try {
    return await runWithLog(values, level, coordinators[0]);
  } finally {
    restoreLog?.();
  }
}

async function runWithLog(values: Record<string, string | boolean | undefined>, level: LogLevel, coordinator: string | undefined): Promise<number> {
  const v = (k: string): string | undefined => values[k] as string | undefined;
  const log = new Logger(level);

  let config: DashboardConfig;
  try {
    if (v("config")) {
      const loaded = loadConfigFile(v("config")!);
      config = loaded.config;
      for (const k of loaded.unknown) log.warn(`config ${v("config")}: unknown key ${k} ignored`);
    } else {
      config = defaultConfig();
    }
    // As codis-dashboard: the flags override the file.
    if (coordinator !== undefined) {
      config.coordinator_name = coordinator;
      config.coordinator_addr = v(coordinator)!;
      log.warn(`option --${coordinator} = ${config.coordinator_addr}`);
    }
    if (v("product_name") !== undefined) config.product_name = v("product_name")!;
    if (v("product_auth") !== undefined) config.product_auth = v("product_auth")!;
    validateConfig(config);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`slotway dashboard: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (v("ncpu") !== undefined) log.warn(`set ncpu = ${v("ncpu")} (no effect: the dashboard is one thread)`);

  let store;
  try {
    store = await openStore(config.coordinator_name, config.coordinator_addr, config.coordinator_auth || undefined);
  } catch (e) {
    log.error(`open store failed: ${errText(e)}`);
    return 1;
  }

  if (values["remove-lock"]) {
    const key = topomPath(config.product_name);
    log.warn("force remove-lock");
    try {
      await store.removeLock(key);
      log.warn("force remove-lock OK");
    } catch (e) {
      log.warn(`force remove-lock failed: ${errText(e)}`);
    }
  }

  const topom = new Topom({
    config, store, connect: defaultConnect, log, hostAdmin: v("host-admin"), version: VERSION,
    ...(config.proxy_admin_secret ? { proxyClient: { adminSecret: config.proxy_admin_secret } } : {}),
  });
  const stopped = new Promise<void>((resolve) => {
    topom.onClosed = resolve;
  });
  let signals = 0;
  const onSignal = (sig: string): void => {
    if (++signals > 1) {
      // A stop that hangs (a push waiting for its timeout) can be cut short; the lock is then
      // left behind and taken over by the next dashboard (its owner is gone).
      log.warn(`${sig} again: exiting now`);
      process.exit(130);
    }
    log.warn(`${sig}: shutting down`);
    topom.close().catch((e) => log.error(errText(e)));
  };
  const sigint = (): void => onSignal("SIGINT");
  const sigterm = (): void => onSignal("SIGTERM");
  process.on("SIGINT", sigint);
  process.on("SIGTERM", sigterm);
  let removePid: (() => void) | undefined;
  try {
    try {
      const serve = dashboardRouter(topom).listener((err, req) => {
        if (!(err instanceof Error && err.name === "ApiError")) log.warn(`${req.method} ${req.url}: ${errText(err)}`);
      });
      await topom.listen((req, res) => {
        // As codis: every call that may change something is logged with who made it.
        if (req.method !== "GET" && req.method !== "HEAD" && (req.url ?? "").startsWith("/api/")) {
          const via = req.headers["x-real-ip"] ?? req.headers["x-forwarded-for"] ?? "";
          log.warn(`API call ${(req.url ?? "").split("?")[0]} from ${req.socket.remoteAddress ?? "?"} [${String(via)}]`);
        }
        serve(req, res);
      });
      await topom.start();
    } catch (e) {
      log.error(errText(e));
      await topom.close().catch(() => undefined);
      return 1;
    }
    if (v("pidfile")) removePid = writePidFile(v("pidfile")!);
    await stopped;
    log.warn("dashboard stopped");
    return 0;
  } finally {
    process.off("SIGINT", sigint);
    process.off("SIGTERM", sigterm);
    removePid?.();
  }
}
