// Process-level launch flags that codis-proxy and codis-dashboard share, with codis's meaning:
//   --log FILE      the log goes to FILE.YYYY-MM-DD (local date), a new file each day
//                   (codis's daily rolling file), appended to
//   --pidfile FILE  the pid is written there (no newline, as codis) and the file removed at exit
//   --ulimit N      refuse to start when `ulimit -n` is below N

import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/**
 * Sends everything written to stderr (this thread's logs and the worker threads', which Node
 * pipes through the main thread's process.stderr) to the daily log file instead. Returns a
 * function that restores stderr.
 */
export function logToFile(base: string): () => void {
  if (path.basename(base) === "" || base.endsWith("/")) throw new Error(`invalid base-path = ${base}, file name is required`);
  const dir = path.dirname(base);
  if (dir !== "" && dir !== ".") mkdirSync(dir, { recursive: true });
  let day = "";
  let fd = -1;
  const fileFor = (): number => {
    const d = new Date();
    const today = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
    if (today !== day || fd < 0) {
      if (fd >= 0) closeSync(fd);
      fd = openSync(`${base}.${today}`, "a", 0o666);
      day = today;
    }
    return fd;
  };
  fileFor(); // fail at startup, not at the first line, when the file cannot be opened
  const stderr = process.stderr;
  const original = stderr.write.bind(stderr);
  // Synchronous appends: log lines are few, and a crash must not lose the last ones.
  stderr.write = ((chunk: string | Uint8Array, enc?: BufferEncoding | ((e?: Error | null) => void), cb?: (e?: Error | null) => void): boolean => {
    const done = typeof enc === "function" ? enc : cb;
    try {
      writeSync(fileFor(), typeof chunk === "string" ? Buffer.from(chunk, typeof enc === "string" ? enc : "utf8") : chunk);
      done?.(null);
    } catch (e) {
      done?.(e as Error);
    }
    return true;
  }) as typeof stderr.write;
  return () => {
    stderr.write = original;
    if (fd >= 0) closeSync(fd);
    fd = -1;
  };
}

/** Writes the pid file (absolute path, as codis) and returns the function that removes it. */
export function writePidFile(file: string): () => void {
  const abs = path.resolve(file);
  writeFileSync(abs, String(process.pid), { mode: 0o644 });
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    rmSync(abs, { force: true });
  };
  // Also on paths that end the process without unwinding (process.exit from a fatal error).
  process.once("exit", remove);
  return remove;
}

/** codis's --ulimit check: throws "ulimit too small: V, should be at least N". */
export function checkUlimit(min: number): void {
  const out = execFileSync("/bin/sh", ["-c", "ulimit -n"], { encoding: "utf8" }).trim();
  if (out === "unlimited") return;
  const v = Number(out);
  if (!Number.isInteger(v)) throw new Error(`run ulimit -n failed: unexpected output ${JSON.stringify(out)}`);
  if (v < min) throw new Error(`ulimit too small: ${v}, should be at least ${min}`);
}

/** Parses a non-negative integer flag value or throws naming the flag. */
export function intFlag(name: string, value: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new Error(`invalid --${name} = ${value}, want an integer ${min}-${max === Number.MAX_SAFE_INTEGER ? "" : max}`.replace(/-$/, " or more"));
  }
  return n;
}
