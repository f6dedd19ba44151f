// Starts a real standalone ZooKeeper (Debian's zookeeper package: /usr/share/java/zookeeper.jar,
// run with the system java) on a free loopback port with a temp data folder.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./ports.js";

export interface ZkServer {
  /** "127.0.0.1:<port>", a codis coordinator_addr. */
  addr: string;
  port: number;
  /** Stops ZooKeeper (SIGKILL when kill is true), waits for the exit and removes its folder. */
  stop(kill?: boolean): Promise<void>;
}

const JAVA = process.env.JAVA_BIN ?? "/usr/bin/java";
const ZK_JAR = process.env.ZOOKEEPER_JAR ?? "/usr/share/java/zookeeper.jar";
const servers = new Set<ZkServer>();

/** Starts ZooKeeper and waits until it answers `ruok` with `imok`. */
export async function startZookeeper(): Promise<ZkServer> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await launch();
    } catch (e) {
      // Another process may take the port between freePort() and the bind: try another.
      if (attempt >= 3) throw e;
    }
  }
}

async function launch(): Promise<ZkServer> {
  const dir = mkdtempSync(path.join(tmpdir(), "slotway-zk-"));
  const port = await freePort();
  const cfg = path.join(dir, "zoo.cfg");
  writeFileSync(cfg, [
    // Short ticks: sessions may be as short as 2 ticks, so tests of session loss stay quick.
    "tickTime=500",
    `dataDir=${path.join(dir, "data")}`,
    `clientPort=${port}`,
    "clientPortAddress=127.0.0.1",
    // The admin web server would take port 8080; the four-letter words answer the health check.
    "admin.enableServer=false",
    "4lw.commands.whitelist=ruok,srvr",
    "minSessionTimeout=1000",
    "maxSessionTimeout=60000",
    "",
  ].join("\n"));
  const child: ChildProcess = spawn(JAVA, [
    "-Xms16m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
    "-cp", ZK_JAR, "org.apache.zookeeper.server.ZooKeeperServerMain", cfg,
  ], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let spawnError: Error | undefined;
  child.once("error", (e) => { spawnError = e; });

  let stopped = false;
  const server: ZkServer = {
    addr: `127.0.0.1:${port}`,
    port,
    async stop(kill = false) {
      if (stopped) return;
      stopped = true;
      servers.delete(server);
      if (child.exitCode === null && child.signalCode === null && !spawnError) {
        child.kill(kill ? "SIGKILL" : "SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (spawnError) { await server.stop(); throw new Error(`cannot start ${JAVA} (ZooKeeper): ${spawnError.message}`); }
    if (child.exitCode !== null) { await server.stop(); throw new Error(`ZooKeeper exited early: ${stderr}`); }
    if ((await fourLetter(port, "ruok")) === "imok") break;
    if (Date.now() > deadline) {
      await server.stop(true);
      throw new Error(`ZooKeeper on ${port} not answering after 20 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  servers.add(server);
  return server;
}

/** Sends a four-letter command and returns the answer ("" when nothing answers). */
export function fourLetter(port: number, word: string): Promise<string> {
  return new Promise((resolve) => {
    let out = "";
    const s = net.connect({ port, host: "127.0.0.1" });
    s.setTimeout(1000, () => s.destroy());
    s.on("connect", () => s.write(word));
    s.on("data", (d: Buffer) => { out += d.toString(); });
    s.on("error", () => undefined);
    s.on("close", () => resolve(out));
  });
}

/** Stops every ZooKeeper this process started (for afterAll hooks). */
export async function stopAllZookeeper(): Promise<void> {
  await Promise.all([...servers].map((s) => s.stop(true)));
}

// A test process that dies without its afterAll still must not leave ZooKeeper running.
process.once("exit", () => {
  for (const s of servers) void s.stop(true);
});
