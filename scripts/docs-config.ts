// Regenerates config/proxy.toml and the configuration table in README.md from the key table.
import { readFileSync, writeFileSync } from "node:fs";
import { configTableMarkdown, sampleConfig } from "../src/core/config-docs.js";

const root = new URL("../../", import.meta.url);
writeFileSync(new URL("config/proxy.toml", root), sampleConfig());
const readmeUrl = new URL("README.md", root);
const readme = readFileSync(readmeUrl, "utf8");
const begin = "<!-- config-table:begin -->";
const end = "<!-- config-table:end -->";
const i = readme.indexOf(begin);
const j = readme.indexOf(end);
if (i < 0 || j < 0) throw new Error("README.md lacks the config-table markers");
writeFileSync(readmeUrl, readme.slice(0, i + begin.length) + "\n" + configTableMarkdown() + "\n" + readme.slice(j));
console.log("config/proxy.toml and README.md updated");
