// A client of a proxy's admin API (codis routes, DESIGN §6 and shared/codis-dashboard-api.md §1.7),
// as the dashboard uses it. Works against codis-proxy and slotway's proxy alike.
//
// Every call is bounded: `timeoutMs` covers connecting and each idle gap of the exchange (a
// stopped or unreachable proxy fails the call instead of stalling the dashboard's lock).
// fillslots gets its own, longer bound, because a proxy answers it only after draining the
// in-flight requests of the slots it changes (that answer is its acknowledgement).
import { apiCall } from "./http.js";
import { decodeProxy, decodeSlots, encodeSentinel, encodeSlot, type Proxy, type ProxyStatsBody, type Sentinel, type Slot } from "./models.js";
import { xauth } from "./xauth.js";
import { SECRET_HEADER } from "./admin-secret.js";

export interface ProxyClientOptions {
  /** Bound for model, xping, stats, slots, start, sentinels, shutdown (ms). */
  timeoutMs?: number;
  /** Bound for fillslots (ms). */
  fillTimeoutMs?: number;
  /** slotway: the proxies' admin_secret, sent with every call (admin-secret.ts); codis-proxy ignores it. */
  adminSecret?: string;
}

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_FILL_TIMEOUT_MS = 30_000;

export class ProxyClient {
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly fillTimeoutMs: number;
  private readonly headers: Record<string, string> | undefined;

  /** adminAddr is "host:port" of the proxy's admin API; xauthHex is the proxy's xauth ("" if unknown yet). */
  constructor(readonly adminAddr: string, readonly xauthHex = "", opts: ProxyClientOptions = {}) {
    this.base = `http://${adminAddr}`;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.fillTimeoutMs = opts.fillTimeoutMs ?? DEFAULT_FILL_TIMEOUT_MS;
    this.headers = opts.adminSecret ? { [SECRET_HEADER]: opts.adminSecret } : undefined;
  }

  /** A client for a registered proxy: xauth = xauth(product_name, product_auth, token). */
  static forProxy(p: Pick<Proxy, "admin_addr" | "token">, productName: string, productAuth: string, opts?: ProxyClientOptions): ProxyClient {
    return new ProxyClient(p.admin_addr, xauth(productName, productAuth, p.token), opts);
  }

  /** GET /api/proxy/model (no xauth): the proxy's identity, including its token. */
  async model(): Promise<Proxy> {
    return decodeProxy(await apiCall("GET", `${this.base}/api/proxy/model`, undefined, this.timeoutMs, this.headers));
  }

  async xping(): Promise<void> {
    await apiCall("GET", this.url("xping"), undefined, this.timeoutMs, this.headers);
  }

  /** GET /api/proxy/stats/X: passed through to the dashboard's stats unchanged. */
  async stats(timeoutMs = this.timeoutMs): Promise<ProxyStatsBody> {
    const body = await apiCall<ProxyStatsBody>("GET", this.url("stats"), undefined, timeoutMs, this.headers);
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      throw new Error(`proxy@${this.adminAddr} stats: bad reply`);
    }
    return body;
  }

  async slots(): Promise<Slot[]> {
    return decodeSlots(await apiCall("GET", this.url("slots"), undefined, this.timeoutMs, this.headers));
  }

  /** PUT /api/proxy/fillslots/X with the given slots; resolves only on the proxy's 200 (its ack). */
  async fillSlots(slots: readonly Slot[]): Promise<void> {
    await apiCall("PUT", this.url("fillslots"), slots.map(encodeSlot), this.fillTimeoutMs, this.headers);
  }

  async start(): Promise<void> {
    await apiCall("PUT", this.url("start"), undefined, this.timeoutMs, this.headers);
  }

  async setSentinels(s: Sentinel): Promise<void> {
    await apiCall("PUT", this.url("sentinels"), encodeSentinel(s), this.timeoutMs, this.headers);
  }

  async shutdown(): Promise<void> {
    await apiCall("PUT", this.url("shutdown"), undefined, this.timeoutMs, this.headers);
  }

  private url(route: string): string {
    return `${this.base}/api/proxy/${route}/${this.xauthHex}`;
  }
}
