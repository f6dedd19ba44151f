import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigError, configToJson, defaultConfig, parseConfigText, sampleConfig } from "../../src/control/dashboard/config.js";

// codis 3.2's config/dashboard.toml, as shipped.
const CODIS_DASHBOARD_TOML = `
coordinator_name = "filesystem"
coordinator_addr = "/tmp/codis"
#coordinator_name = "zookeeper"
#coordinator_addr = "127.0.0.1:2181"
#coordinator_auth = ""
product_name = "codis-demo"
product_auth = ""
admin_addr = "0.0.0.0:18080"
migration_method = "semi-async"
migration_parallel_slots = 100
migration_async_maxbulks = 200
migration_async_maxbytes = "32mb"
migration_async_numkeys = 500
migration_timeout = "30s"
sentinel_client_timeout = "10s"
sentinel_quorum = 2
sentinel_parallel_syncs = 1
sentinel_down_after = "30s"
sentinel_failover_timeout = "5m"
sentinel_notification_script = ""
sentinel_client_reconfig_script = ""
`;

function err(text: string): string {
  try {
    parseConfigText(text);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("dashboard.toml", () => {
  it("codis's own file parses to codis's defaults", () => {
    const { config, unknown } = parseConfigText(CODIS_DASHBOARD_TOML);
    expect(unknown).toEqual([]);
    expect(config).toEqual(defaultConfig());
    expect(config.migration_async_maxbytes).toBe(32 * 1024 * 1024);
    expect(config.migration_timeout).toBe(30_000);
    expect(config.sentinel_failover_timeout).toBe(300_000);
  });

  it("an empty file is all defaults; unknown keys are reported, not fatal", () => {
    expect(parseConfigText("").config).toEqual(defaultConfig());
    expect(parseConfigText('jodis_name = "x"\nfoo = 1').unknown).toEqual(["jodis_name", "foo"]);
  });

  it("accepts slotway's redis method and etcd", () => {
    const { config } = parseConfigText('migration_method = "redis"\ncoordinator_name = "etcd"\ncoordinator_addr = "127.0.0.1:2379"');
    expect(config.migration_method).toBe("redis");
    expect(config.coordinator_name).toBe("etcd");
  });

  it("errors name the key", () => {
    expect(err('migration_method = "async"')).toBe('invalid migration_method: must be "sync", "semi-async" or "redis"');
    expect(err("migration_parallel_slots = 0")).toBe("invalid migration_parallel_slots: must be ≥ 1");
    expect(err('migration_parallel_slots = "4"')).toBe("invalid migration_parallel_slots: want an integer");
    expect(err('migration_timeout = "soon"')).toBe('invalid migration_timeout: want a duration such as "30s"');
    expect(err("migration_timeout = 30")).toBe('invalid migration_timeout: want a duration such as "30s"');
    expect(err('migration_async_maxbytes = "32 parsecs"')).toBe('invalid migration_async_maxbytes: want a size such as "32mb"');
    expect(err('product_name = "a/b"')).toBe("invalid product_name: bad product name = a/b");
    expect(err('coordinator_name = "consul"')).toBe('invalid coordinator_name: must be "filesystem", "etcd", "etcdv2" or "zookeeper"');
    for (const name of ["zookeeper", "zk", "etcd", "etcdv2", "filesystem", "fs"]) {
      expect(parseConfigText(`coordinator_name = "${name}"\ncoordinator_addr = "127.0.0.1:2181"`).config.coordinator_name).toBe(name);
    }
    expect(err('coordinator_addr = ""')).toBe("invalid coordinator_addr: must not be empty");
    expect(err('admin_addr = "18080"')).toBe("invalid admin_addr: must be host:port");
    expect(err("product_name = ")).toMatch(/^invalid toml at line 1/);
  });

  it("sizes accept a bare byte count", () => {
    expect(parseConfigText("migration_async_maxbytes = 1024").config.migration_async_maxbytes).toBe(1024);
  });

  it("configToJson prints units as strings and leaves product_auth out", () => {
    const { config } = parseConfigText('product_auth = "secret"\nmigration_timeout = "1m30s"');
    const j = configToJson(config);
    expect(j.migration_timeout).toBe("90s");
    expect(j.migration_async_maxbytes).toBe("32mb");
    expect(j.sentinel_failover_timeout).toBe("5m");
    expect(JSON.stringify(j)).not.toContain("secret");
    expect(Object.keys(j)).toEqual([
      "coordinator_name", "coordinator_addr", "coordinator_auth", "admin_addr", "product_name", "migration_method",
      "migration_parallel_slots", "migration_async_maxbulks", "migration_async_maxbytes", "migration_async_numkeys",
      "migration_timeout", "migration_max_keys_per_second", "migration_keep_client_ops_percent", "sentinel_client_timeout", "sentinel_quorum", "sentinel_parallel_syncs", "sentinel_down_after",
      "sentinel_failover_timeout", "sentinel_notification_script", "sentinel_client_reconfig_script",
      // slotway's own keys after codis's
      "pika_replication_timeout", "pika_replication_lock_lag", "pika_replication_lock_timeout",
      "pika_replication_parallel_slots", "pika_delslots_grace", "pika_max_slots_per_server",
    ]);
    expect(j.pika_replication_timeout).toBe("10m");
    expect(j.pika_replication_lock_lag).toBe("64kb");
    expect(j.pika_replication_parallel_slots).toBe(32);
  });

  it("the sample config parses back to the defaults", () => {
    expect(parseConfigText(sampleConfig()).config).toEqual(defaultConfig());
  });

  it("codis 3.2.2's shipped dashboard.toml (../shared/peers/codis-config) has no key we do not know", () => {
    // A missing file fails the test (readFileSync throws): it is part of the shared peers.
    const text = readFileSync(new URL("../../../shared/peers/codis-config/dashboard.toml", import.meta.url), "utf8");
    const { config, unknown } = parseConfigText(text);
    expect(unknown).toEqual([]);
    expect(config).toEqual(defaultConfig());
  });
});
