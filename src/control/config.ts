// Loading the proxy configuration file (TOML) and telling what a reload may change.
import { readFileSync } from "node:fs";
import { parse as parseToml } from "smol-toml";
import { validateProxyConfig, PROXY_KEYS, ConfigError, type ProxyConfig, type Validated } from "../core/config-schema.js";

/** Reads and validates a proxy.toml; throws ConfigError (or a read/parse Error) with the reason. */
export function loadProxyConfig(path: string): Validated {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError("--config", `cannot read ${path}: ${(e as Error).message}`);
  }
  let raw: Record<string, unknown>;
  try {
    raw = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError("--config", `${path} is not valid TOML: ${(e as Error).message.split("\n")[0]}`);
  }
  return validateProxyConfig(raw);
}

export interface ReloadPlan {
  /** Keys whose new values apply now. */
  applied: string[];
  /** Keys that changed but need a restart to take effect. */
  needRestart: string[];
  groupsChanged: boolean;
}

/** Compares two configurations by the reload column of the key table. */
export function planReload(oldC: ProxyConfig, newC: ProxyConfig): ReloadPlan {
  const applied: string[] = [];
  const needRestart: string[] = [];
  for (const def of PROXY_KEYS) {
    if (oldC[def.name] === newC[def.name]) continue;
    (def.reload ? applied : needRestart).push(def.name);
  }
  const groupsChanged = JSON.stringify(oldC.groups) !== JSON.stringify(newC.groups);
  return { applied, needRestart, groupsChanged };
}

/** The configuration to run with after a reload: new reloadable values, old others. */
export function mergeReload(oldC: ProxyConfig, newC: ProxyConfig): ProxyConfig {
  const out: ProxyConfig = { ...oldC, groups: newC.groups };
  for (const def of PROXY_KEYS) if (def.reload) out[def.name] = newC[def.name];
  return out;
}
