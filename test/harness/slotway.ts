// Starts a real slotway proxy process (the built CLI) for integration tests.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, waitForPort } from "./ports.js";

export const CLI = fileURLToPath(new URL("../../dist/src/cli.js", import.meta.url));

export interface GroupSpec {
  id: number;
  servers: string[];
  slots?: string;
}

/** Two groups of one server each, the usual split: group 1 slots 0-511, group 2 slots 512-1023. */
export function twoGroups(a: string, b: string): GroupSpec[] {
  return [
    { id: 1, servers: [a], slots: "0-511" },
    { id: 2, servers: [b], slots: "512-1023" },
  ];
}

export interface SlotwayOptions {
  groups?: GroupSpec[];
  workers?: number;
  /** Extra proxy.toml keys. */
  config?: Record<string, string | number | boolean>;
  /** Extra command-line arguments (e.g. ["--dashboard", addr]). */
  args?: string[];
  /** Wait for the client port to accept connections (default true). */
  waitReady?: boolean;
}

export interface Slotway {
  port: number;
  adminPort: number;
  addr: string;
  adminAddr: string;
  configPath: string;
  proc: ChildProcess;
  /** Everything the process wrote to stderr and stdout so far. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

function toml(v: string | number | boolean): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/** Writes a proxy.toml for the options and returns its path. */
export function writeConfig(port: number, adminPort: number, opts: SlotwayOptions): string {
  const dir = mkdtempSync(path.join(tmpdir(), "slotway-test-"));
  // The defaults below give way to the same keys in opts.config (TOML forbids a key twice).
  const keys: Record<string, string | number | boolean> = {
    product_name: "test",
    proxy_addr: `127.0.0.1:${port}`,
    admin_addr: `127.0.0.1:${adminPort}`,
    proxy_workers: opts.workers ?? 2,
    log_level: "warn",
    ...opts.config,
  };
  const lines = Object.entries(keys).map(([k, v]) => `${k} = ${toml(v)}`);
  for (const g of opts.groups ?? []) {
    lines.push("[[group]]", `id = ${g.id}`, `servers = ${JSON.stringify(g.servers)}`);
    if (g.slots) lines.push(`slots = ${JSON.stringify(g.slots)}`);
  }
  const file = path.join(dir, "proxy.toml");
  writeFileSync(file, lines.join("\n") + "\n");
  return file;
}

const running = new Set<Slotway>();

/** Starts `slotway proxy` and waits until its client port accepts connections. */
export async function startSlotway(opts: SlotwayOptions = {}): Promise<Slotway> {
  const port = await freePort();
  const adminPort = await freePort();
  const configPath = writeConfig(port, adminPort, opts);
  const proc = spawn(process.execPath, [CLI, "proxy", "--config", configPath, ...(opts.args ?? [])], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  const s: Slotway = {
    port,
    adminPort,
    addr: `127.0.0.1:${port}`,
    adminAddr: `127.0.0.1:${adminPort}`,
    configPath,
    proc,
    output: () => out,
    async stop(signal = "SIGTERM") {
      running.delete(s);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  running.add(s);
  if (opts.waitReady !== false) {
    await Promise.race([
      waitForPort(port, "127.0.0.1", 15_000),
      exited.then((code) => {
        throw new Error(`slotway exited with ${code} before listening:\n${out}`);
      }),
    ]);
    await waitForPort(adminPort, "127.0.0.1", 15_000);
  }
  return s;
}

/** Stops every proxy this process started. */
export async function stopAllSlotway(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop("SIGKILL")));
}
