// The README configuration table and the sample config, generated from the key table so
// the documentation cannot drift from the code (test/unit/config.test.ts checks both).
import { PROXY_KEYS, formatDefault } from "./config-schema.js";

const UNIT: Record<string, string> = { duration: "duration", size: "size", int: "integer", bool: "bool", string: "string", addr: "host:port", enum: "choice" };

/** The Markdown table of every proxy key. */
export function configTableMarkdown(): string {
  const rows = PROXY_KEYS.map((k) => {
    const range = k.values ? k.values.join(" \\| ") : k.min !== undefined || k.max !== undefined ? `${k.min ?? ""}–${k.max ?? ""}` : "";
    return `| \`${k.name}\` | ${UNIT[k.type]} | \`${formatDefault(k)}\` | ${range} | ${k.reload ? "yes" : "no"} | ${k.doc} |`;
  });
  return ["| key | type | default | range | SIGHUP | meaning |", "|---|---|---|---|---|---|", ...rows].join("\n");
}

/** config/proxy.toml: every key at its default, documented, plus two example groups. */
export function sampleConfig(): string {
  const lines = [
    "# slotway proxy configuration (generated from src/core/config-schema.ts by `npm run docs:config`).",
    "# codis proxy.toml files are accepted as they are; keys below are at their defaults.",
    "",
  ];
  for (const k of PROXY_KEYS) {
    lines.push(`# ${k.doc}${k.reload ? " (reloaded on SIGHUP)" : ""}`);
    lines.push(`${k.name} = ${formatDefault(k)}`);
    lines.push("");
  }
  lines.push(
    "# Standalone mode (no dashboard): backend groups and the slots they own. servers[0] is the",
    "# master, further servers are replicas that may serve reads. Slots of no group answer",
    "# \"ERR handle request, slot is not ready, may be offline\".",
    "[[group]]",
    "id = 1",
    'servers = ["127.0.0.1:6379"]',
    'slots = "0-511"',
    "",
    "[[group]]",
    "id = 2",
    'servers = ["127.0.0.1:6380"]',
    'slots = "512-1023"',
    "",
  );
  return lines.join("\n");
}
