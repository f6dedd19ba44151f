// The real codis 3.2.2 tools of ../shared/peers/bin (codis-admin, codis-proxy), for tests that
// check that codis reads what slotway writes. A missing binary fails the test (no skip).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, waitForPort } from "./ports.js";

export const PEERS_BIN = fileURLToPath(new URL("../../../shared/peers/bin/", import.meta.url));

export function codisBin(name: string): string {
  const p = path.join(PEERS_BIN, name);
  if (!existsSync(p)) throw new Error(`${p} is missing (the codis tools are in ../shared/peers/bin)`);
  return p;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs codis-admin with the arguments; never rejects (the exit code is in the result). */
export function codisAdmin(args: string[], timeoutMs = 15_000): Promise<RunResult> {
  const bin = codisBin("codis-admin");
  return new Promise((resolve) => {
    execFile(bin, args, { timeout: timeoutMs, encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface CodisProxy {
  addr: string;
  adminAddr: string;
  proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

const running = new Set<CodisProxy>();

/** Starts codis-proxy with a small proxy.toml (no 256 MB heap placeholder) and extra flags. */
export async function startCodisProxy(product: string, args: string[]): Promise<CodisProxy> {
  const bin = codisBin("codis-proxy");
  const port = await freePort();
  const adminPort = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), "slotway-codis-proxy-"));
  const cfg = path.join(dir, "proxy.toml");
  writeFileSync(cfg, [
    `product_name = "${product}"`, `admin_addr = "127.0.0.1:${adminPort}"`, `proxy_addr = "127.0.0.1:${port}"`,
    `proto_type = "tcp4"`, `proxy_heap_placeholder = "0"`, `proxy_max_offheap_size = "16mb"`, "",
  ].join("\n"));
  const proc = spawn(bin, [`--config=${cfg}`, "--ncpu=1", ...args], { stdio: ["ignore", "pipe", "pipe"], cwd: dir });
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const p: CodisProxy = {
    addr: `127.0.0.1:${port}`,
    adminAddr: `127.0.0.1:${adminPort}`,
    proc,
    output: () => out,
    async stop() {
      running.delete(p);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
    },
  };
  running.add(p);
  await Promise.race([
    waitForPort(adminPort, "127.0.0.1", 15_000),
    exited.then(() => { throw new Error(`codis-proxy exited:\n${out}`); }),
  ]);
  return p;
}

export async function stopAllCodisProxies(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}
