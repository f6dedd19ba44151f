// Copies the web console's static files next to the compiled console module
// (src/control/console/static → dist/src/control/console/static): tsc only emits .js from .ts.
const fs = require("node:fs");
const path = require("node:path");
const from = path.join(__dirname, "..", "src", "control", "console", "static");
const to = path.join(__dirname, "..", "dist", "src", "control", "console", "static");
fs.rmSync(to, { recursive: true, force: true });
fs.cpSync(from, to, { recursive: true });
