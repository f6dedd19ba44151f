// The dashboard's codis HTTP API as the console calls it. Served by a dashboard, the page calls
// it directly; served by `slotway fe` (or codis-fe), every call carries ?forward=<product> and
// fe relays it to that product's dashboard. Mutations need the dashboard xauth, computed from
// the product name as codis tools do.
import { xauthOf } from "./sha256.js";

/** An error the dashboard answered (status 800/1500 with a Cause). */
export class RemoteError extends Error {
  constructor(cause) {
    super(cause);
    this.name = "RemoteError";
  }
}

const seg = (v) => encodeURIComponent(String(v));

export class ApiClient {
  /** mode: "dashboard" or "fe"; product: the product name (fe: also the forward target). */
  constructor(mode, product = "") {
    this.mode = mode;
    this.setProduct(product);
  }

  setProduct(product) {
    this.product = product;
    this.xauth = xauthOf(product);
  }

  url(path) {
    if (this.mode !== "fe") return path;
    return `${path}${path.includes("?") ? "&" : "?"}forward=${encodeURIComponent(this.product)}`;
  }

  async request(method, path, body) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    let res;
    try {
      res = await fetch(this.url(path), init);
    } catch (e) {
      throw new Error(`cannot reach the ${this.mode === "fe" ? "console server" : "dashboard"}: ${e.message}`);
    }
    const text = await res.text();
    if (res.status === 200) return text ? JSON.parse(text) : null;
    if (res.status === 800 || res.status === 1500) {
      let cause = "remote error is empty";
      try {
        const o = JSON.parse(text);
        if (o && typeof o.Cause === "string") cause = o.Cause;
      } catch {
        if (text.trim()) cause = text.trim();
      }
      throw new RemoteError(cause);
    }
    if (res.status === 403 && this.mode === "fe") throw new Error(`product ${this.product} is not known to fe`);
    if (res.status === 502 && this.mode === "fe") throw new Error(`the dashboard of ${this.product} does not answer`);
    throw new Error(`[${res.status}] ${res.statusText || "error"} - ${path}`);
  }

  get(path) {
    return this.request("GET", path);
  }

  put(path, body) {
    return this.request("PUT", path, body);
  }

  /** PUT /api/topom/<path> with the xauth as the first parameter. */
  act(path, ...params) {
    return this.put(["/api/topom", path, this.xauth, ...params.map(seg)].join("/"));
  }

  overview() {
    return this.get("/topom");
  }

  stats() {
    return this.get(`/api/topom/stats/${this.xauth}`);
  }

  createGroup(gid) {
    return this.act("group/create", gid);
  }
  removeGroup(gid) {
    return this.act("group/remove", gid);
  }
  resyncGroup(gid) {
    return this.act("group/resync", gid);
  }
  addServer(gid, addr, datacenter) {
    return datacenter ? this.act("group/add", gid, addr, datacenter) : this.act("group/add", gid, addr);
  }
  removeServer(gid, addr) {
    return this.act("group/del", gid, addr);
  }
  promote(gid, addr) {
    return this.act("group/promote", gid, addr);
  }
  /** Replication from the group's master (codis's sync action). */
  syncServer(addr) {
    return this.act("group/action/create", addr);
  }
  assign(body) {
    return this.put(`/api/topom/slots/assign/${this.xauth}`, body);
  }
  /** The slots in body (group_id 0) become offline. */
  assignOffline(body) {
    return this.put(`/api/topom/slots/assign/${this.xauth}/offline`, body);
  }
  migrateRange(beg, end, gid) {
    return this.act("slots/action/create-range", beg, end, gid);
  }
  rebalance(confirm) {
    return this.act("slots/rebalance", confirm ? 1 : 0);
  }
  setInterval(us) {
    return this.act("slots/action/interval", us);
  }
  setDisabled(disabled) {
    return this.act("slots/action/disabled", disabled ? 1 : 0);
  }
  createProxy(addr) {
    return this.act("proxy/create", addr);
  }
  reinitProxy(token) {
    return this.act("proxy/reinit", token);
  }
  removeProxy(token, force) {
    return this.act("proxy/remove", token, force ? 1 : 0);
  }
}

/** The server the page came from: "dashboard" or "fe" (env.json beside the page). */
export async function loadEnv() {
  const res = await fetch("env.json");
  if (!res.ok) throw new Error(`env.json: [${res.status}]`);
  return res.json();
}

/** fe's product names (GET /list). */
export async function loadProducts() {
  const res = await fetch("/list");
  if (!res.ok) throw new Error(`/list: [${res.status}]`);
  return res.json();
}
