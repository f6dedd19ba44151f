// `slotway demo`: two local redis-server processes and a proxy in front of them, for trying
// slotway in one command. Everything stops on Ctrl-C.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import net from "node:net";
import { parseArgs } from "node:util";
import { validateProxyConfig } from "../core/config-schema.js";
import { ProxyServer } from "./proxy.js";
import { log } from "../log.js";

const HELP = `Usage: slotway demo [--port 19000] [--admin-port 11080] [--redis-ports 16379,16380] [--workers N]

Starts one redis-server per port in --redis-ports (needs redis-server on the PATH), then a
slotway proxy on 127.0.0.1:--port that spreads the 1024 slots evenly over them. Ctrl-C stops all.
`;

export async function runDemo(argv: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: {
        port: { type: "string", default: "19000" },
        "admin-port": { type: "string", default: "11080" },
        "redis-ports": { type: "string", default: "16379,16380" },
        workers: { type: "string", default: "0" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    process.stderr.write(`slotway demo: ${(e as Error).message}\n${HELP}`);
    return 2;
  }
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const ports = v["redis-ports"]!.split(",").map((p) => Number(p.trim()));
  if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p <= 0 || p > 65535)) {
    process.stderr.write("slotway demo: --redis-ports must be a comma list of ports\n");
    return 2;
  }
  const dir = mkdtempSync(path.join(tmpdir(), "slotway-demo-"));
  const children: ChildProcess[] = [];
  const stopAll = () => {
    for (const c of children) c.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" });
      child.on("error", (e) => log.error(`redis-server on ${port}: ${e.message} (is redis-server installed?)`));
      children.push(child);
      await waitForPort(port);
      log.info(`redis-server on 127.0.0.1:${port}`);
    }
    const per = Math.ceil(1024 / ports.length);
    const { config } = validateProxyConfig({
      product_name: "demo",
      proxy_addr: `127.0.0.1:${v.port}`,
      admin_addr: `127.0.0.1:${v["admin-port"]}`,
      proxy_workers: Number(v.workers),
      group: ports.map((p, i) => ({ id: i + 1, servers: [`127.0.0.1:${p}`], slots: `${i * per}-${Math.min(1023, (i + 1) * per - 1)}` })),
    });
    const proxy = new ProxyServer({ configPath: "", config });
    await proxy.start();
    process.stdout.write(`\nslotway demo is up: redis-cli -p ${v.port}   (admin API: http://127.0.0.1:${v["admin-port"]}/proxy)\nCtrl-C stops everything.\n`);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    });
    await proxy.close();
    return 0;
  } catch (e) {
    log.error(`demo: ${(e as Error).message}`);
    return 1;
  } finally {
    stopAll();
  }
}

function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect({ port, host: "127.0.0.1" });
      s.once("connect", () => {
        s.destroy();
        resolve();
      });
      s.once("error", () => {
        if (Date.now() > deadline) reject(new Error(`redis-server did not listen on ${port} within ${timeoutMs} ms (port in use or redis-server missing?)`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}
