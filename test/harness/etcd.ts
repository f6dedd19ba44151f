// Starts a real single-member etcd (Debian's etcd-server, /usr/bin/etcd) on free loopback ports,
// with its v2 API enabled.
import { mkdtempSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./ports.js";
import { startServerProc, withPortRetries } from "./server-proc.js";

export interface EtcdServer {
  /** "127.0.0.1:<client port>", a codis coordinator_addr. */
  addr: string;
  clientPort: number;
  /** Stops etcd (SIGKILL when kill is true), waits for the exit and removes its data folder. */
  stop(kill?: boolean): Promise<void>;
}

const ETCD_BIN = process.env.ETCD_BIN ?? "/usr/bin/etcd";
const servers = new Set<EtcdServer>();

/** Starts etcd with a temp data folder and waits until /health says true. */
export function startEtcd(): Promise<EtcdServer> {
  return withPortRetries(launch);
}

async function launch(): Promise<EtcdServer> {
  const dir = mkdtempSync(path.join(tmpdir(), "slotway-etcd-"));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    "--name", "slotway-test", "--data-dir", path.join(dir, "data"),
    "--listen-client-urls", client, "--advertise-client-urls", client,
    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
    "--initial-cluster", `slotway-test=${peer}`, "--initial-cluster-state", "new",
    // Short raft timers make the one-member election quick and etcd's minimum lease TTL 1 s.
    "--heartbeat-interval", "50", "--election-timeout", "500",
    "--logger", "zap", "--log-outputs", "stderr", "--log-level", "error",
    // The v2 API too: codis 3.2 speaks it, and so does slotway's "etcdv2" store.
    "--enable-v2",
  ];
  const proc = await startServerProc({
    name: "etcd", bin: ETCD_BIN, args, dir, readyTimeoutMs: 15_000, ready: () => healthy(clientPort),
  });
  const server: EtcdServer = {
    addr: `127.0.0.1:${clientPort}`,
    clientPort,
    async stop(kill = false) {
      servers.delete(server);
      await proc.stop(kill);
    },
  };
  servers.add(server);
  return server;
}

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/health", timeout: 1000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => { body += d.toString(); });
      res.on("end", () => resolve(res.statusCode === 200 && /"health"\s*:\s*"true"/.test(body)));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

/** Stops every etcd this process started (for afterAll hooks). */
export async function stopAllEtcd(): Promise<void> {
  await Promise.all([...servers].map((s) => s.stop(true)));
}

// A test process that dies without its afterAll still must not leave etcd running.
process.once("exit", () => {
  for (const s of servers) void s.stop(true);
});
