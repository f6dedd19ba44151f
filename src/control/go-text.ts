// Texts in the shape codis's Go binaries print them, for operators and tools that read them:
// time.Time.String(), net dial errors, net/http client errors, and codis's trace.Stack.

import { performance } from "node:perf_hooks";

function pad(n: number, w = 2): string {
  return String(n).padStart(w, "0");
}

/** The zone's abbreviation as Go prints it ("UTC", "CET"), or Go's numeric form ("+01", "-0330"). */
function zoneName(d: Date, offsetMin: number): string {
  if (offsetMin === 0 && Intl.DateTimeFormat().resolvedOptions().timeZone === "UTC") return "UTC";
  const part = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(d).find((p) => p.type === "timeZoneName");
  if (part && /^[A-Z]{2,5}$/.test(part.value) && !/^(GMT|UTC)$/.test(part.value)) return part.value;
  if (offsetMin === 0) return "UTC";
  const sign = offsetMin < 0 ? "-" : "+";
  const a = Math.abs(offsetMin);
  return `${sign}${pad(Math.floor(a / 60))}${a % 60 ? pad(a % 60) : ""}`;
}

/**
 * Go's time.Now().String() (what codis puts in start_time and rusage.now):
 * "2026-11-30 21:15:09.467168703 +0000 UTC m=+0.009588702". The fraction has its trailing
 * zeros cut, as Go's ".999999999" layout does; m= is the monotonic clock since process start.
 */
export function goTimeNow(): string {
  const t = performance.timeOrigin + performance.now();
  const ms = Math.floor(t);
  const d = new Date(ms);
  const nanos = (ms % 1000) * 1_000_000 + Math.min(999_999, Math.max(0, Math.round((t - ms) * 1_000_000)));
  const frac = nanos === 0 ? "" : "." + String(nanos).padStart(9, "0").replace(/0+$/, "");
  const off = -d.getTimezoneOffset();
  const a = Math.abs(off);
  const zone = `${off < 0 ? "-" : "+"}${pad(Math.floor(a / 60))}${pad(a % 60)}`;
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${frac}`;
  return `${date} ${time} ${zone} ${zoneName(d, off)} m=+${(performance.now() / 1000).toFixed(9)}`;
}

const SYSCALL_TEXT: Record<string, string> = {
  ECONNREFUSED: "connect: connection refused",
  ECONNRESET: "read: connection reset by peer",
  EHOSTUNREACH: "connect: no route to host",
  ENETUNREACH: "connect: network is unreachable",
  EADDRNOTAVAIL: "connect: cannot assign requested address",
  ETIMEDOUT: "i/o timeout",
  EPIPE: "write: broken pipe",
};

/**
 * A Node network error in Go's words: "dial tcp 127.0.0.1:1: connect: connection refused".
 * Errors without a known code keep their own message.
 */
export function goDialError(addr: string, err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  const code = e?.code;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    const host = addr.slice(0, addr.lastIndexOf(":")).replace(/^\[|\]$/g, "");
    return `dial tcp: lookup ${host}: no such host`;
  }
  if (code && SYSCALL_TEXT[code]) return `dial tcp ${addr}: ${SYSCALL_TEXT[code]}`;
  return e instanceof Error ? e.message : String(err);
}

/** Go's net/http client error: `Get "http://host/path": dial tcp host: connect: connection refused`. */
export function goHttpError(method: string, url: string, addr: string, err: unknown): string {
  const verb = method.charAt(0).toUpperCase() + method.slice(1).toLowerCase();
  return `${verb} "${url}": ${goDialError(addr, err)}`;
}

/** One frame of codis's trace.Stack (JSON field names as Go encodes the struct). */
export interface StackRecord {
  Name: string;
  File: string;
  Line: number;
}

/**
 * The call stack of an error as codis's trace.Stack (innermost first, at most 32 frames),
 * which codis-admin prints under a remote error. Built from the V8 stack text.
 */
export function traceStack(err: unknown): StackRecord[] {
  const text = err instanceof Error && typeof err.stack === "string" ? err.stack : new Error("trace").stack ?? "";
  const out: StackRecord[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s+at (?:async )?(?:(.+?) \((.+?):(\d+):\d+\)|(.+?):(\d+):\d+)$/.exec(line);
    if (!m) continue;
    const name = m[1] ?? "<anonymous>";
    const file = (m[2] ?? m[4] ?? "").replace(/^file:\/\//, "");
    const lineNo = Number(m[3] ?? m[5]);
    if (file.startsWith("node:")) continue;
    out.push({ Name: name, File: file, Line: lineNo });
    if (out.length >= 32) break;
  }
  if (out.length === 0) out.push({ Name: "<unknown>", File: "slotway", Line: 0 });
  return out;
}
