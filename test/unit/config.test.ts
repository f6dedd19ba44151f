import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { parse } from "smol-toml";
import { validateProxyConfig, PROXY_KEYS, ConfigError } from "../../src/core/config-schema.js";
import { planReload } from "../../src/control/config.js";
import { configTableMarkdown, sampleConfig } from "../../src/core/config-docs.js";

describe("proxy configuration", () => {
  it("accepts codis's own proxy.toml keys with their units", () => {
    const { config, warnings } = validateProxyConfig({
      product_name: "p", backend_recv_timeout: "1m30s", session_send_bufsize: "128kb", proxy_max_clients: 10,
      proxy_heap_placeholder: "512mb",
    });
    expect(config.backend_recv_timeout).toBe(90_000);
    expect(config.session_send_bufsize).toBe(131072);
    expect(config.session_max_pipeline).toBe(10000);
    expect(warnings.join()).toContain("proxy_heap_placeholder");
  });

  it("loads codis 3.2.2's shipped proxy.toml (../shared/peers/codis-config) to codis's defaults", () => {
    const text = readFileSync(new URL("../../../shared/peers/codis-config/proxy.toml", import.meta.url), "utf8");
    const { config, warnings } = validateProxyConfig(parse(text) as Record<string, unknown>);
    expect(warnings).toEqual([]);
    const defaults = validateProxyConfig({}).config;
    for (const def of PROXY_KEYS) expect(config[def.name], def.name).toEqual(defaults[def.name]);
  });

  it("names the key and the reason on invalid input", () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ session_max_pipeline: 0 }, "invalid session_max_pipeline: must be ≥ 1"],
      [{ backend_recv_timeout: 30 }, "invalid backend_recv_timeout: must be a duration string"],
      [{ backend_recv_timeout: "soon" }, "invalid backend_recv_timeout: \"soon\" is not a duration"],
      [{ proxy_addr: "nohost" }, "invalid proxy_addr: \"nohost\" is not host:port"],
      [{ no_such_key: 1 }, "invalid no_such_key: unknown key"],
      [{ group: [{ id: 1, servers: ["127.0.0.1:1"], slots: "0-10" }, { id: 2, servers: ["127.0.0.1:2"], slots: "5" }] },
        "invalid group[1].slots: slot 5 is also given to group 1"],
      [{ group: [{ id: 1, servers: [], slots: "0" }] }, "invalid group[0].servers"],
    ];
    for (const [raw, msg] of bad) {
      expect(() => validateProxyConfig(raw), msg).toThrow(ConfigError);
      expect(() => validateProxyConfig(raw)).toThrow(msg);
    }
  });

  it("tells reloadable keys from those that need a restart", () => {
    const a = validateProxyConfig({}).config;
    const b = validateProxyConfig({ session_max_pipeline: 5, proxy_addr: "127.0.0.1:1" }).config;
    const plan = planReload(a, b);
    expect(plan.applied).toEqual(["session_max_pipeline"]);
    expect(plan.needRestart).toEqual(["proxy_addr"]);
  });

  it("keeps the README table and the sample config in step with the key table", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    expect(readme).toContain(configTableMarkdown());
    const sample = readFileSync(new URL("../../config/proxy.toml", import.meta.url), "utf8");
    expect(sample).toBe(sampleConfig());
    const parsed = validateProxyConfig(parse(sample) as Record<string, unknown>).config;
    for (const def of PROXY_KEYS) expect(parsed[def.name], def.name).toEqual(validateProxyConfig({}).config[def.name]);
  });
});
