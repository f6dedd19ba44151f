// `slotway dashboard --config FILE`: the codis-dashboard replacement. Serves until SIGINT/SIGTERM
// or the shutdown route, then releases the product lock.
import { writeFileSync, rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { defaultConnect } from "../movers/connect.js";
import { openStore } from "../store/index.js";
import { VERSION } from "../../version.js";
import { dashboardRouter } from "./api.js";
import { ConfigError, defaultConfig, loadConfigFile, sampleConfig, type DashboardConfig } from "./config.js";
import { errText, Logger, parseLogLevel } from "./log.js";
import { Topom } from "./topom.js";

const USAGE = `Usage: slotway dashboard [--config FILE] [--host-admin HOST] [--log-level LEVEL] [--pidfile FILE]
       slotway dashboard --default-config

Runs the control plane of a slotway (or codis) cluster with the codis-dashboard HTTP API:
groups, proxies, slot assignment and migration. FILE uses codis's dashboard.toml keys; without
it codis's defaults apply. migration_method may also be "redis" (vanilla Redis/Valkey groups).

  --config FILE       dashboard.toml
  --host-admin HOST   host to publish in admin_addr when it binds 0.0.0.0 (codis --host-admin)
  --log-level LEVEL   DEBUG, INFO, WARN, ERROR or NONE (default INFO)
  --pidfile FILE      write the process id there while running
  --default-config    print a dashboard.toml with every key and its default

Exit status: 0 after a clean stop, 1 on a runtime failure (store, lock, listen), 2 on bad
arguments or configuration.
`;

/** Runs the dashboard; resolves with the exit status once it has stopped. */
export async function runDashboard(argv: string[]): Promise<number> {
  let values: { config?: string; "host-admin"?: string; "log-level"?: string; pidfile?: string; help?: boolean; "default-config"?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: "string", short: "c" },
        "host-admin": { type: "string" },
        "log-level": { type: "string" },
        pidfile: { type: "string" },
        "default-config": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    process.stderr.write(`slotway dashboard: ${errText(e)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values["default-config"]) {
    process.stdout.write(sampleConfig());
    return 0;
  }
  const level = parseLogLevel(values["log-level"] ?? "INFO");
  if (!level) {
    process.stderr.write(`slotway dashboard: invalid --log-level ${values["log-level"]}\n`);
    return 2;
  }
  const log = new Logger(level);

  let config: DashboardConfig;
  try {
    if (values.config) {
      const loaded = loadConfigFile(values.config);
      config = loaded.config;
      for (const k of loaded.unknown) log.warn(`config ${values.config}: unknown key ${k} ignored`);
    } else {
      config = defaultConfig();
    }
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`slotway dashboard: ${e.message}\n`);
      return 2;
    }
    throw e;
  }

  let store;
  try {
    store = await openStore(config.coordinator_name, config.coordinator_addr, config.coordinator_auth || undefined);
  } catch (e) {
    log.error(`open store failed: ${errText(e)}`);
    return 1;
  }

  const topom = new Topom({ config, store, connect: defaultConnect, log, hostAdmin: values["host-admin"], version: VERSION });
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
    if (values.pidfile) writeFileSync(values.pidfile, `${process.pid}\n`);
    await stopped;
    log.warn("dashboard stopped");
    return 0;
  } finally {
    process.off("SIGINT", sigint);
    process.off("SIGTERM", sigterm);
    if (values.pidfile) rmSync(values.pidfile, { force: true });
  }
}
