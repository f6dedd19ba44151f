// The codis-dashboard HTTP API (shared/codis-dashboard-api.md §1), route for route, with codis's
// check order: closed → xauth → path params → the operation.
import { ApiError, Redirect, Router, type ApiRequest } from "../http.js";
import { decodeSlotMapping, encodeSlot, type SlotMapping } from "../models.js";
import { errText, parseLogLevel } from "./log.js";
import type { Topom } from "./topom.js";

/** Builds the router; `onShutdown` runs after the shutdown route released the lock and answered. */
export function dashboardRouter(t: Topom, onShutdown: () => void = () => void t.close()): Router {
  const r = new Router();

  const verify = (req: ApiRequest): void => {
    if (t.isClosed()) throw new ApiError("use of closed topom");
    const x = req.params.xauth ?? "";
    if (x === "") throw new ApiError("missing xauth, please check product name & auth");
    if (x !== t.xauth) throw new ApiError("invalid xauth, please check product name & auth");
  };
  const int = (req: ApiRequest, name: string): number => {
    const text = req.params[name] ?? "";
    if (text === "") throw new ApiError(`missing ${name}`);
    // Go's strconv.Atoi: optional sign, decimal digits, 64-bit range.
    if (!/^[+-]?\d+$/.test(text)) throw new ApiError(`invalid ${name}`);
    const v = Number(text);
    if (!Number.isSafeInteger(v)) throw new ApiError(`invalid ${name}`);
    return v;
  };
  const addr = (req: ApiRequest): string => {
    const a = req.params.addr ?? "";
    if (a === "") throw new ApiError("missing addr");
    return a;
  };
  const token = (req: ApiRequest): string => {
    const v = req.params.token ?? "";
    if (v === "") throw new ApiError("missing token");
    return v;
  };
  const OK = "OK";

  r.get("/", () => new Redirect("/topom"));

  r.get("/topom", () => t.stats.overview());
  r.get("/topom/model", () => t.model);
  r.get("/topom/stats", () => t.stats.snapshot());
  r.get("/topom/slots", () => t.slots.list().map(encodeSlot));

  const base = "/api/topom";
  r.get(`${base}/model`, () => t.model);
  r.get(`${base}/xping/:xauth`, (req) => {
    verify(req);
    return OK;
  });
  r.get(`${base}/stats/:xauth`, (req) => {
    verify(req);
    return t.stats.snapshot();
  });
  r.get(`${base}/slots/:xauth`, (req) => {
    verify(req);
    return t.slots.list().map(encodeSlot);
  });
  r.put(`${base}/reload/:xauth`, async (req) => {
    verify(req);
    await t.reload();
    return OK;
  });
  r.put(`${base}/shutdown/:xauth`, async (req) => {
    verify(req);
    await t.release();
    setImmediate(onShutdown);
    return OK;
  });
  r.put(`${base}/loglevel/:xauth/:value`, (req) => {
    verify(req);
    const v = req.params.value ?? "";
    if (v === "") throw new ApiError("missing loglevel");
    const level = parseLogLevel(v);
    if (!level) throw new ApiError("invalid loglevel");
    t.log.setLevel(level);
    t.log.warn(`set loglevel to ${v}`);
    return OK;
  });

  // proxies
  r.put(`${base}/proxy/create/:xauth/:addr`, async (req) => {
    verify(req);
    await t.proxies.createProxy(addr(req));
    return OK;
  });
  r.put(`${base}/proxy/online/:xauth/:addr`, async (req) => {
    verify(req);
    await t.proxies.onlineProxy(addr(req));
    return OK;
  });
  r.put(`${base}/proxy/reinit/:xauth/:token`, async (req) => {
    verify(req);
    await t.proxies.reinitProxy(token(req));
    return OK;
  });
  r.put(`${base}/proxy/remove/:xauth/:token/:force`, async (req) => {
    verify(req);
    const tk = token(req);
    const force = int(req, "force");
    await t.proxies.removeProxy(tk, force !== 0);
    return OK;
  });

  // groups
  r.put(`${base}/group/create/:xauth/:gid`, async (req) => {
    verify(req);
    await t.groups.createGroup(int(req, "gid"));
    return OK;
  });
  r.put(`${base}/group/remove/:xauth/:gid`, async (req) => {
    verify(req);
    await t.groups.removeGroup(int(req, "gid"));
    return OK;
  });
  r.put(`${base}/group/resync/:xauth/:gid`, async (req) => {
    verify(req);
    await t.groups.resyncGroup(int(req, "gid"));
    return OK;
  });
  r.put(`${base}/group/resync-all/:xauth`, async (req) => {
    verify(req);
    await t.groups.resyncGroupAll();
    return OK;
  });
  const groupAdd = async (req: ApiRequest): Promise<string> => {
    verify(req);
    const gid = int(req, "gid");
    const a = addr(req);
    // As codis: the server is checked right after the params, before the topology is.
    await t.groups.checkServer(a);
    await t.groups.groupAddServer(gid, req.params.datacenter ?? "", a);
    return OK;
  };
  r.put(`${base}/group/add/:xauth/:gid/:addr`, groupAdd);
  r.put(`${base}/group/add/:xauth/:gid/:addr/:datacenter`, groupAdd);
  r.put(`${base}/group/del/:xauth/:gid/:addr`, async (req) => {
    verify(req);
    const gid = int(req, "gid");
    await t.groups.groupDelServer(gid, addr(req));
    return OK;
  });
  r.put(`${base}/group/promote/:xauth/:gid/:addr`, async (req) => {
    verify(req);
    const gid = int(req, "gid");
    await t.groups.groupPromoteServer(gid, addr(req));
    return OK;
  });
  r.put(`${base}/group/replica-groups/:xauth/:gid/:addr/:value`, async (req) => {
    verify(req);
    const gid = int(req, "gid");
    const a = addr(req);
    const v = int(req, "value");
    await t.groups.enableReplicaGroups(gid, a, v !== 0);
    return OK;
  });
  r.put(`${base}/group/replica-groups-all/:xauth/:value`, async (req) => {
    verify(req);
    await t.groups.enableReplicaGroupsAll(int(req, "value") !== 0);
    return OK;
  });
  r.put(`${base}/group/action/create/:xauth/:addr`, async (req) => {
    verify(req);
    await t.groups.syncCreateAction(addr(req));
    return OK;
  });
  r.put(`${base}/group/action/remove/:xauth/:addr`, async (req) => {
    verify(req);
    await t.groups.syncRemoveAction(addr(req));
    return OK;
  });
  r.get(`${base}/group/info/:addr`, (req) => t.groups.infoServer(addr(req)));

  // slots
  r.put(`${base}/slots/action/create/:xauth/:sid/:gid`, async (req) => {
    verify(req);
    const sid = int(req, "sid");
    const gid = int(req, "gid");
    await t.slots.slotCreateAction(sid, gid);
    return OK;
  });
  r.put(`${base}/slots/action/create-some/:xauth/:src/:dst/:num`, async (req) => {
    verify(req);
    const src = int(req, "src");
    const dst = int(req, "dst");
    const num = int(req, "num");
    await t.slots.slotCreateActionSome(src, dst, num);
    return OK;
  });
  r.put(`${base}/slots/action/create-range/:xauth/:beg/:end/:gid`, async (req) => {
    verify(req);
    const beg = int(req, "beg");
    const end = int(req, "end");
    const gid = int(req, "gid");
    await t.slots.slotCreateActionRange(beg, end, gid);
    return OK;
  });
  r.put(`${base}/slots/action/remove/:xauth/:sid`, async (req) => {
    verify(req);
    await t.slots.slotRemoveAction(int(req, "sid"));
    return OK;
  });
  r.put(`${base}/slots/action/interval/:xauth/:value`, (req) => {
    verify(req);
    t.slots.setSlotActionInterval(int(req, "value"));
    return OK;
  });
  r.put(`${base}/slots/action/disabled/:xauth/:value`, (req) => {
    verify(req);
    t.slots.setSlotActionDisabled(int(req, "value") !== 0);
    return OK;
  });
  r.put(`${base}/slots/assign/:xauth`, async (req) => {
    const slots = assignBody(req);
    verify(req);
    await t.slots.slotsAssignGroup(slots);
    return OK;
  });
  r.put(`${base}/slots/assign/:xauth/offline`, async (req) => {
    const slots = assignBody(req);
    verify(req);
    await t.slots.slotsAssignOffline(slots);
    return OK;
  });
  r.put(`${base}/slots/rebalance/:xauth/:confirm`, async (req) => {
    verify(req);
    const confirm = int(req, "confirm");
    const plan = await t.slots.slotsRebalance(confirm !== 0);
    const out: Record<string, number> = {};
    for (const [sid, gid] of plan) out[String(sid)] = gid;
    return out;
  });

  // sentinels
  r.put(`${base}/sentinels/add/:xauth/:addr`, async (req) => {
    verify(req);
    await t.sentinels.addSentinel(addr(req));
    return OK;
  });
  r.put(`${base}/sentinels/del/:xauth/:addr/:force`, async (req) => {
    verify(req);
    const a = addr(req);
    const force = int(req, "force");
    await t.sentinels.delSentinel(a, force !== 0);
    return OK;
  });
  r.put(`${base}/sentinels/resync-all/:xauth`, async (req) => {
    verify(req);
    await t.sentinels.resyncSentinels();
    return OK;
  });
  r.get(`${base}/sentinels/info/:addr`, (req) => t.sentinels.infoSentinel(addr(req)));
  r.get(`${base}/sentinels/info/:addr/monitored`, (req) => t.sentinels.infoSentinelMonitored(addr(req)));

  return r;
}

/**
 * The slots/assign body. codis binds it with martini-contrib/binding: a malformed or empty body
 * is an empty list, not an error. Entries are decoded with Go's rules.
 */
function assignBody(req: ApiRequest): SlotMapping[] {
  let v: unknown;
  try {
    v = JSON.parse(req.body.toString("utf8"));
  } catch {
    return [];
  }
  if (!Array.isArray(v)) return [];
  try {
    return v.filter((x) => x !== null).map((x) => decodeSlotMapping(x));
  } catch (e) {
    throw new ApiError(errText(e));
  }
}
