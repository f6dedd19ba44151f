// A client of a proxy's codis admin API for tests: raw HTTP (status, headers and body text,
// since codis answers errors with status 800 and tests check the exact bytes), and the calls a
// dashboard makes (model, xauth, fillslots, start, stats, slots).
import http from "node:http";
import { xauth } from "../../src/control/xauth.js";
import { RawClient } from "./resp-client.js";

export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** performance.now() when the response headers arrived (ordering checks). */
  at: number;
}

/** One HTTP request; the body is sent as JSON unless it is already a string. */
export function httpRequest(method: string, url: string, body?: unknown, timeoutMs = 15_000): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
    const req = http.request(url, {
      method,
      timeout: timeoutMs,
      agent: false,
      headers: payload ? { "Content-Type": "application/json", "Content-Length": payload.length } : { "Content-Length": 0 },
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${url}: no answer in ${timeoutMs} ms`)));
    req.on("error", reject);
    req.on("response", (res) => {
      const at = performance.now();
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8"), at }));
    });
    req.end(payload);
  });
}

/** A codis Slot object as a dashboard sends it in fillslots (shared/codis-dashboard-api.md §4.3). */
export interface SlotJson {
  id: number;
  locked?: boolean;
  backend_addr?: string;
  backend_addr_group_id?: number;
  migrate_from?: string;
  migrate_from_group_id?: number;
  forward_method?: number;
  replica_groups?: string[][];
}

/** The admin API of one proxy, driven the way a codis dashboard drives it. */
export class ProxyAdmin {
  token = "";
  xauth = "";

  constructor(readonly adminAddr: string, readonly productName = "test", readonly productAuth = "") {}

  get base(): string {
    return `http://${this.adminAddr}`;
  }

  /** GET /api/proxy/model and computes the proxy's xauth from its token (§1.7). */
  async init(): Promise<this> {
    const r = await httpRequest("GET", `${this.base}/api/proxy/model`);
    if (r.status !== 200) throw new Error(`model: ${r.status} ${r.text}`);
    this.token = (JSON.parse(r.text) as { token: string }).token;
    this.xauth = xauth(this.productName, this.productAuth, this.token);
    return this;
  }

  /** A request to `/api/proxy/<path>`, where "{x}" in path stands for the xauth. */
  call(method: string, path: string, body?: unknown): Promise<HttpReply> {
    return httpRequest(method, `${this.base}/api/proxy/${path.replace("{x}", this.xauth)}`, body);
  }

  /** PUT fillslots; resolves with the raw reply (200 "OK" or 800 with a Cause). */
  fill(slots: SlotJson[]): Promise<HttpReply> {
    return this.call("PUT", "fillslots/{x}", slots);
  }

  /** PUT fillslots and insists on 200. */
  async fillOk(slots: SlotJson[]): Promise<HttpReply> {
    const r = await this.fill(slots);
    if (r.status !== 200) throw new Error(`fillslots: ${r.status} ${r.text}`);
    return r;
  }

  async start(): Promise<void> {
    const r = await this.call("PUT", "start/{x}");
    if (r.status !== 200) throw new Error(`start: ${r.status} ${r.text}`);
  }

  async stats(flags?: number): Promise<ProxyStatsJson> {
    const r = await this.call("GET", flags === undefined ? "stats/{x}" : `stats/{x}/${flags}`);
    if (r.status !== 200) throw new Error(`stats: ${r.status} ${r.text}`);
    return JSON.parse(r.text) as ProxyStatsJson;
  }

  async slots(): Promise<SlotJson[]> {
    const r = await this.call("GET", "slots/{x}");
    if (r.status !== 200) throw new Error(`slots: ${r.status} ${r.text}`);
    return JSON.parse(r.text) as SlotJson[];
  }
}

/** The proxy stats body (codis fields plus slotway's own). */
export interface ProxyStatsJson {
  online: boolean;
  closed: boolean;
  sentinels: { servers?: string[] };
  ops: { total: number; fails: number; qps: number; redis: { errors: number }; cmd?: { opstr: string; calls: number; usecs: number; usecs_percall: number; fails: number; redis_errtype: number }[] };
  sessions: { total: number; alive: number };
  rusage: { now: string; cpu: number; mem: number };
  backend: { primary_only: boolean };
  runtime?: unknown;
  slotway?: {
    workers: number; held_requests: number; held_requests_expired?: number; protocol_errors: number; slots_online: number;
    locked_slots?: { id: number; locked_ms: number; held: number; oldest_held_ms: number }[];
  };
}

export { until, sleep } from "./wait.js";


/**
 * Opens raw client connections until each of the proxy's worker threads holds n of them, and
 * returns them by worker index (extras are closed). The worker is read from HELLO's id, which a
 * slotway worker numbers as index × 10⁹ + sequence (src/workers/worker.ts).
 */
export async function clientsOnEachWorker(port: number, n: number, workers = 2, auth?: string): Promise<RawClient[][]> {
  const by: RawClient[][] = Array.from({ length: workers }, () => []);
  for (let tries = 0; by.some((l) => l.length < n); tries++) {
    if (tries > 40 * n * workers) {
      for (const l of by) for (const c of l) c.close();
      throw new Error(`could not place ${n} connection(s) on each of ${workers} workers in ${tries} tries`);
    }
    const c = await RawClient.connect(port);
    if (auth !== undefined) await c.call("AUTH", auth);
    const hello = await c.call("HELLO", "2");
    const m = /\$2\r\nid\r\n:(\d+)\r\n/.exec(hello);
    if (!m) throw new Error(`HELLO reply without an id: ${JSON.stringify(hello)}`);
    const w = Math.floor(Number(m[1]) / 1e9);
    if (w < workers && by[w]!.length < n) by[w]!.push(c);
    else c.close();
  }
  return by;
}
