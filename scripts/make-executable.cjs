// tsc does not keep the executable bit; the CLI needs it when npm links it as `slotway`.
require("node:fs").chmodSync(require("node:path").join(__dirname, "..", "dist", "src", "cli.js"), 0o755);
