// vitest globalSetup: every temporary folder of a test run (servers' data and logs, stores, config
// files) goes under one folder made for the run, removed when the run ends, so that running the
// tests often does not pile up folders in the system's temp dir, also when a test is killed or
// forgets its own cleanup. The test processes and the servers they start inherit TMPDIR.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export default function setup(): () => void {
  const dir = mkdtempSync(path.join(os.tmpdir(), "slotway-run-"));
  process.env.TMPDIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
