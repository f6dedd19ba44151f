// The command table's facts (arity, flags, key specs: src/core/redis-commands.ts) against the
// local redis-server 7, and the proxy's key finding against Redis's own COMMAND GETKEYS for a
// sample of every command and subcommand.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startRedis, stopAllRedis, type RedisServer } from "../harness/redis.js";
import { parseDocs, sampleArgs } from "../harness/command-samples.js";
import { queryServer, factsFromCommandReply, serverVersion } from "../../scripts/redis-commands.js";
import { REDIS_COMMANDS, REDIS_VERSION } from "../../src/core/redis-commands.js";
import { commandByName, keyIndexes } from "../../src/core/command-table.js";
import { RespErrorValue } from "../../src/core/resp-decoder.js";

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await stopAllRedis();
});

describe("command facts", () => {
  it("are the local redis-server's COMMAND reply (regenerate with scripts/redis-commands.ts when Redis changes)", async () => {
    const live = factsFromCommandReply(await queryServer(redis.port, "127.0.0.1", ["COMMAND"]));
    const version = await serverVersion(redis.port, "127.0.0.1");
    expect(version.split(".").slice(0, 2)).toEqual(REDIS_VERSION.split(".").slice(0, 2));
    expect(REDIS_COMMANDS).toEqual(live);
  });

  it("find the same keys as COMMAND GETKEYS for every command and subcommand", async () => {
    const docs = parseDocs(await queryServer(redis.port, "127.0.0.1", ["COMMAND", "DOCS"]));
    let withKeys = 0;
    for (const [name, doc] of docs) {
      const [top, sub] = name.split("|") as [string, string | undefined];
      let args = sampleArgs(doc);
      // MIGRATE's KEYS form wants an empty key argument.
      if (top === "migrate") args = ["h", "1", "", "0", "1", "KEYS", "k0", "k1"];
      const argv = [top, ...(sub ? [sub] : []), ...args];
      const r = await queryServer(redis.port, "127.0.0.1", ["COMMAND", "GETKEYS", ...argv]);
      const info = commandByName(top)!;
      const ours = keyIndexes(info, argv.length, (i) => Buffer.from(argv[i]!)).map((i) => argv[i]);
      if (r instanceof RespErrorValue) {
        // "The command has no key arguments", or a command without arguments at all.
        expect(r.message, argv.join(" ")).toMatch(/no key arguments|wrong number of arguments for 'command\|getkeys'/);
        expect(ours, argv.join(" ")).toEqual([]);
        continue;
      }
      withKeys++;
      expect(ours, argv.join(" ")).toEqual((r as Buffer[]).map(String));
    }
    expect(withKeys).toBeGreaterThan(150);
  });
});
