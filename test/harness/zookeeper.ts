// Starts a real standalone ZooKeeper (Debian's zookeeper package: /usr/share/java/zookeeper.jar,
// run with the system java) on a free loopback port with a temp data folder.
import { mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./ports.js";
import { startServerProc, withPortRetries } from "./server-proc.js";

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
export function startZookeeper(): Promise<ZkServer> {
  return withPortRetries(launch);
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
  const proc = await startServerProc({
    name: "ZooKeeper", bin: JAVA, dir, readyTimeoutMs: 20_000,
    args: [
      "-Xms16m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
      "-cp", ZK_JAR, "org.apache.zookeeper.server.ZooKeeperServerMain", cfg,
    ],
    ready: async () => (await fourLetter(port, "ruok")) === "imok",
  });
  const server: ZkServer = {
    addr: `127.0.0.1:${port}`,
    port,
    async stop(kill = false) {
      servers.delete(server);
      await proc.stop(kill);
    },
  };
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
