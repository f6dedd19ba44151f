// A server process for the tests (etcd, ZooKeeper, ...): spawned with a temp folder, waited for
// until its own health check answers, stopped (SIGTERM, then SIGKILL) with the folder removed.
// A missing binary, an early exit or no answer in time fails loudly with the server's stderr.
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";

export interface ServerProcSpec {
  /** For error texts, e.g. "etcd". */
  name: string;
  bin: string;
  args: string[];
  /** Its temp folder, removed on stop. */
  dir: string;
  /** True once the server answers. */
  ready(): Promise<boolean>;
  readyTimeoutMs: number;
}

export interface ServerProc {
  readonly child: ChildProcess;
  /** Stops the server (SIGKILL when kill is true), waits for the exit and removes its folder. */
  stop(kill?: boolean): Promise<void>;
}

/** Spawns the server and resolves once ready() says so; on failure it is stopped and the error says why. */
export async function startServerProc(spec: ServerProcSpec): Promise<ServerProc> {
  const child = spawn(spec.bin, spec.args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let spawnError: Error | undefined;
  child.once("error", (e) => { spawnError = e; });

  let stopped = false;
  const proc: ServerProc = {
    child,
    async stop(kill = false) {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null && !spawnError) {
        child.kill(kill ? "SIGKILL" : "SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(spec.dir, { recursive: true, force: true });
    },
  };

  const deadline = Date.now() + spec.readyTimeoutMs;
  for (;;) {
    if (spawnError) { await proc.stop(); throw new Error(`cannot start ${spec.bin} (${spec.name}): ${spawnError.message}`); }
    if (child.exitCode !== null) { await proc.stop(); throw new Error(`${spec.name} exited early: ${stderr}`); }
    if (await spec.ready()) return proc;
    if (Date.now() > deadline) {
      await proc.stop(true);
      throw new Error(`${spec.name} not answering after ${spec.readyTimeoutMs / 1000} s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs launch() again (up to 3 more times) when it fails: another process may take a port between freePort() and the bind. */
export async function withPortRetries<T>(launch: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await launch();
    } catch (e) {
      if (attempt >= 3) throw e;
    }
  }
}
