// Starts real redis-server processes on loopback ports for integration tests.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import path from "node:path";
import net from "node:net";
import { freePort } from "./ports.js";

export interface RedisServer {
  port: number;
  /** "127.0.0.1:<port>" */
  addr: string;
  /** Stops the server (SIGKILL when kill is true) and waits for the process to exit. */
  stop(kill?: boolean): Promise<void>;
  /** Starts the server again on the same port (after stop). */
  restart(): Promise<void>;
  /** Sends one command and returns the raw reply text (for quick checks). */
  command(...args: string[]): Promise<string>;
}

export interface RedisOptions {
  password?: string;
  extraArgs?: string[];
  /** The server binary (default: redis-server on PATH); it must take redis-server's flags. */
  bin?: string;
}

/** codis's Redis 3.2.11 fork with the slot commands (../shared/peers/README.md). */
export const CODIS_SERVER_BIN = fileURLToPath(new URL("../../../shared/peers/bin/codis-server", import.meta.url));

/**
 * Starts the real codis-server of ../shared/peers (not the scripted stand-in of
 * codis-server.ts); a missing binary fails the caller.
 */
export async function startRealCodisServer(opts: Omit<RedisOptions, "bin"> = {}): Promise<RedisServer> {
  if (!existsSync(CODIS_SERVER_BIN)) throw new Error(`codis-server not found at ${CODIS_SERVER_BIN} (../shared/peers is required)`);
  return startRedis({ ...opts, bin: CODIS_SERVER_BIN });
}

const servers = new Set<RedisServer>();

/** Starts a redis-server on a free loopback port and waits until it answers PING. */
export async function startRedis(opts: RedisOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(path.join(tmpdir(), "slotway-redis-"));
  let port = 0;
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const args = [
      "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
      "--dir", dir, "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning",
      ...(opts.password ? ["--requirepass", opts.password] : []),
      ...(opts.extraArgs ?? []),
    ];
    child = spawn(opts.bin ?? "redis-server", args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => { stderr += d.toString(); });
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server exited early: ${stderr}`);
      const reply = await rawCommand(port, opts.password ? ["AUTH", opts.password] : ["PING"]).catch(() => "");
      if (reply.startsWith("+")) return;
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 30));
    }
  };

  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (e) {
      child?.kill("SIGKILL");
      if (attempt >= 3) throw e;
    }
  }

  const server: RedisServer = {
    port,
    addr: `127.0.0.1:${port}`,
    async stop(kill = false) {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise<void>((r) => c.once("exit", () => r()));
      c.kill(kill ? "SIGKILL" : "SIGTERM");
      await exited;
    },
    async restart() {
      await server.stop();
      await launch();
    },
    command: async (...args: string[]) => {
      const all = opts.password ? [["AUTH", opts.password], args] : [args];
      const replies = await rawCommands(port, all);
      return replies[replies.length - 1]!;
    },
  };
  servers.add(server);
  return server;
}

/** Stops every server this process started (for afterAll hooks). */
export async function stopAllRedis(): Promise<void> {
  await Promise.all([...servers].map((s) => s.stop(true)));
  servers.clear();
}

function encode(args: string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("");
}

function rawCommand(port: number, args: string[]): Promise<string> {
  return rawCommands(port, [args]).then((r) => r[0]!);
}

/** Sends commands on one connection and collects one reply line-group per command (simple replies only). */
function rawCommands(port: number, cmds: string[][]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    let buf = "";
    const timer = setTimeout(() => { s.destroy(); reject(new Error("timeout")); }, 2000);
    s.on("error", (e) => { clearTimeout(timer); reject(e); });
    s.on("connect", () => s.write(cmds.map(encode).join("")));
    s.on("data", (d) => {
      buf += d.toString("latin1");
      const lines = splitReplies(buf);
      if (lines && lines.length >= cmds.length) {
        clearTimeout(timer);
        s.destroy();
        resolve(lines);
      }
    });
  });
}

// Minimal splitter good enough for +, -, :, $ replies used by the harness.
function splitReplies(buf: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  while (i < buf.length) {
    const eol = buf.indexOf("\r\n", i);
    if (eol < 0) return out;
    const line = buf.slice(i, eol);
    if (line[0] === "$") {
      const n = Number(line.slice(1));
      if (n < 0) { out.push(line); i = eol + 2; continue; }
      if (buf.length < eol + 2 + n + 2) return out;
      out.push(buf.slice(eol + 2, eol + 2 + n));
      i = eol + 2 + n + 2;
    } else {
      out.push(line);
      i = eol + 2;
    }
  }
  return out;
}
