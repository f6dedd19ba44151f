// The few Redis conversations the dashboard has with group servers (codis pkg/utils/redis):
// INFO for the stats and the group/info route, SLAVEOF for sync actions and promotions.
import { hostOf } from "../models.js";
import type { RedisConn, RedisConnector } from "../movers/mover.js";
import { errText } from "./log.js";

/** INFO text → { field: value } (section headers and blank lines skipped, as codis does). */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf(":");
    if (i < 0) continue;
    const key = line.slice(0, i).trim();
    if (key !== "") out[key] = line.slice(i + 1).trim();
  }
  return out;
}

/** INFO plus `master_addr` (replicas only) and `maxmemory` from CONFIG GET (codis InfoFull). */
export async function infoFull(conn: RedisConn): Promise<Record<string, string>> {
  const info = parseInfo(String(await conn.call("INFO")));
  const host = info.master_host ?? "";
  const port = info.master_port ?? "";
  if (host !== "" || port !== "") info.master_addr = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const r = await conn.call("CONFIG", "GET", "maxmemory");
  if (!Array.isArray(r) || r.length !== 2) throw new Error(`invalid response = ${JSON.stringify(r)}`);
  const v = Number(String(r[1]));
  if (!Number.isSafeInteger(v)) throw new Error(`invalid response = ${JSON.stringify(r)}`);
  info.maxmemory = String(v);
  return info;
}

/**
 * Points a server at a master ("NO:ONE" = become a master), with codis SetMaster's steps:
 * masterauth, SLAVEOF, CONFIG REWRITE, CLIENT KILL TYPE normal (so clients reconnect and see
 * the new role). Sent one by one rather than in codis's MULTI: a failing CONFIG REWRITE (a
 * server started without a config file) must not hide that replication did change, so it is
 * returned as a warning instead of failing the switch.
 */
export async function setMaster(conn: RedisConn, master: string, auth: string): Promise<string | undefined> {
  const [host, port] = master === "NO:ONE" ? ["NO", "ONE"] : [hostOf(master), master.slice(master.lastIndexOf(":") + 1)];
  await conn.call("CONFIG", "SET", "masterauth", auth);
  await conn.call("SLAVEOF", host, port);
  let warning: string | undefined;
  try {
    await conn.call("CONFIG", "REWRITE");
  } catch (e) {
    warning = `CONFIG REWRITE: ${errText(e)}`;
  }
  await conn.call("CLIENT", "KILL", "TYPE", "normal");
  return warning;
}

/** Runs fn on a fresh connection that is closed afterwards. */
export async function withConn<T>(connect: RedisConnector, addr: string, password: string | undefined, timeoutMs: number, fn: (c: RedisConn) => Promise<T>): Promise<T> {
  const conn = await connect(addr, { password: password || undefined, timeoutMs });
  try {
    return await fn(conn);
  } finally {
    conn.close();
  }
}

/** Resolves with fn's result, or rejects with "timeout" after ms (fn keeps running; its result is dropped). */
export function withTimeout<T>(ms: number, p: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new TimeoutError(ms)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

export class TimeoutError extends Error {
  constructor(ms: number) {
    super(`timeout after ${ms} ms`);
    this.name = "TimeoutError";
  }
}

export { errText };
