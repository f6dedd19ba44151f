// The Pika launcher itself: ports, restart with data, and no rsync daemon left behind.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { startPika, stopAllPika } from "../harness/pika.js";
import { until } from "../harness/wait.js";

afterAll(stopAllPika);

function rsyncOf(dir: string): number[] {
  return readdirSync("/proc").filter((e) => /^\d+$/.test(e)).filter((e) => {
    try {
      const c = readFileSync(`/proc/${e}/cmdline`, "utf8");
      return c.startsWith("rsync\0") && c.includes(dir);
    } catch {
      return false;
    }
  }).map(Number);
}

describe("test/harness/pika.ts", () => {
  it("starts 3.4 in sharding mode, keeps data over a restart, and stops its rsync daemon", async () => {
    const p = await startPika({ version: "3.4" });
    expect(await p.call("CONFIG", "GET", "instance-mode")).toEqual(["instance-mode", "sharding"]);
    expect(p.port + 10001).toBeLessThan(32768);
    // 3.4 starts its rsync daemon at once (not only for a full sync).
    await until("rsync daemon of 3.4", () => rsyncOf(p.dir).length === 1);
    await p.call("pkcluster", "addslots", "5");
    await p.call("SET", "k771", "v1");
    const pid = p.pid;
    await p.restart();
    expect(p.pid).not.toBe(pid);
    expect(await p.call("GET", "k771")).toBe("v1");
    await p.stop();
    expect(p.pid).toBe(0);
    expect(rsyncOf(p.dir)).toEqual([]);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it("starts 3.5 and 4.0 in classic mode with slotmigrate on", async () => {
    const [a, b] = await Promise.all([startPika({ version: "3.5" }), startPika({ version: "4.0" })]);
    for (const p of [a, b]) {
      expect(await p.call("CONFIG", "GET", "slotmigrate")).toEqual(["slotmigrate", "yes"]);
      expect(await p.call("CONFIG", "GET", "instance-mode")).toEqual(["instance-mode", "classic"]);
    }
    expect(a.port).not.toBe(b.port);
  });

  it("fails loudly when Pika cannot start (ulimit -n below maxclients + 5000)", async () => {
    await expect(startPika({ version: "3.4", nofile: 1200 })).rejects.toThrow(/exited at start[\s\S]*limit -n/);
  });
});
