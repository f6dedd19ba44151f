// `slotway admin`: drives a dashboard (slotway's or codis's) from the command line, with
// codis-admin's flag names and output for its --dashboard forms (shared/codis-dashboard-api.md §2).
// Every command first reads the model (for the product's xauth) and xpings, as codis-admin does.
import { apiCall, RemoteError } from "./http.js";
import type { Overview, ProxyJson, Stats } from "./models.js";
import { xauth } from "./xauth.js";

const USAGE = `Usage:
  slotway admin --dashboard=ADDR [config|model|stats|slots|group|proxy]
  slotway admin --dashboard=ADDR --shutdown | --reload | --log-level=LEVEL
  slotway admin --dashboard=ADDR --slots-assign --beg=ID --end=ID (--gid=ID | --offline) [--confirm]
  slotway admin --dashboard=ADDR --slots-status
  slotway admin --dashboard=ADDR --list-proxy | --proxy-status
  slotway admin --dashboard=ADDR --create-proxy --addr=ADDR
  slotway admin --dashboard=ADDR --online-proxy --addr=ADDR
  slotway admin --dashboard=ADDR --remove-proxy (--addr=ADDR | --token=TOKEN | --pid=ID) [--force]
  slotway admin --dashboard=ADDR --reinit-proxy (--addr=ADDR | --token=TOKEN | --pid=ID | --all) [--force]
  slotway admin --dashboard=ADDR --list-group | --group-status
  slotway admin --dashboard=ADDR --create-group --gid=ID
  slotway admin --dashboard=ADDR --remove-group --gid=ID
  slotway admin --dashboard=ADDR --resync-group (--gid=ID | --all)
  slotway admin --dashboard=ADDR --group-add --gid=ID --addr=ADDR [--datacenter=DC]
  slotway admin --dashboard=ADDR --group-del --gid=ID --addr=ADDR
  slotway admin --dashboard=ADDR --replica-groups --gid=ID --addr=ADDR (--enable | --disable)
  slotway admin --dashboard=ADDR --promote-server --gid=ID --addr=ADDR
  slotway admin --dashboard=ADDR --sync-action (--create | --remove) --addr=ADDR
  slotway admin --dashboard=ADDR --slot-action --create --sid=ID --gid=ID
  slotway admin --dashboard=ADDR --slot-action --remove --sid=ID
  slotway admin --dashboard=ADDR --slot-action --create-some --gid-from=ID --gid-to=ID --num-slots=N
  slotway admin --dashboard=ADDR --slot-action --create-range --beg=ID --end=ID --gid=ID
  slotway admin --dashboard=ADDR --slot-action (--interval=VALUE | --disabled=VALUE)
  slotway admin --dashboard=ADDR --rebalance [--confirm]
  slotway admin --dashboard=ADDR --sentinel-add --addr=ADDR
  slotway admin --dashboard=ADDR --sentinel-del --addr=ADDR [--force]
  slotway admin --dashboard=ADDR --sentinel-resync

The same flag names as codis-admin; values may follow "=" or the next argument.
Short forms: -x ADDR (--addr), -t TOKEN (--token), -g ID (--gid). -v prints each call.
Exit status: 0 on success, 1 when the dashboard answers an error, 2 on bad usage.
`;

/** Flags that take a value (everything else starting with -- is a switch). */
const VALUE_FLAGS = new Set([
  "dashboard", "addr", "token", "pid", "gid", "beg", "end", "sid", "datacenter", "gid-from", "gid-to",
  "num-slots", "interval", "disabled", "log-level", "auth",
]);
const SHORT: Record<string, string> = { x: "addr", t: "token", g: "gid", a: "auth" };
const WORDS = new Set(["config", "model", "stats", "slots", "group", "proxy"]);

export interface AdminIO {
  out: (text: string) => void;
  err: (text: string) => void;
}

class UsageError extends Error {}
/** A failure already explained to the user (codis-admin's panic line). */
class Failed extends Error {}

interface Args {
  flags: Map<string, string | true>;
  word?: string;
}

function parse(argv: string[]): Args {
  const flags = new Map<string, string | true>();
  let word: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    let name: string;
    let value: string | undefined;
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      if (eq >= 0) value = a.slice(eq + 1);
    } else if (/^-[a-z]$/.test(a)) {
      const s = a.slice(1);
      if (s === "v" || s === "h") {
        flags.set(s === "v" ? "verbose" : "help", true);
        continue;
      }
      const long = SHORT[s];
      if (!long) throw new UsageError(`unknown option ${a}`);
      name = long;
    } else if (WORDS.has(a) && word === undefined) {
      word = a;
      continue;
    } else {
      throw new UsageError(`unexpected argument ${a}`);
    }
    if (VALUE_FLAGS.has(name)) {
      if (value === undefined) {
        value = argv[++i];
        if (value === undefined) throw new UsageError(`--${name} needs a value`);
      }
      flags.set(name, value);
    } else {
      if (value !== undefined) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
    }
  }
  return { flags, word };
}

/** Runs `slotway admin`; returns the exit status. */
export async function runAdmin(argv: string[], io: AdminIO = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
}): Promise<number> {
  let args: Args;
  try {
    args = parse(argv);
  } catch (e) {
    io.err(`slotway admin: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.flags.has("help")) {
    io.out(USAGE);
    return 0;
  }
  const dashboard = args.flags.get("dashboard");
  if (typeof dashboard !== "string" || dashboard === "") {
    io.err(`slotway admin: --dashboard=ADDR is required\n\n${USAGE}`);
    return 2;
  }
  try {
    await new AdminCommand(dashboard, args, io).run();
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`slotway admin: ${e.message}\n`);
      return 2;
    }
    if (e instanceof Failed) return 1;
    io.err(`slotway admin: ${(e as Error).message}\n`);
    return 1;
  }
}

class AdminCommand {
  private x = "";
  private readonly base: string;
  private readonly verbose: boolean;

  constructor(private readonly addr: string, private readonly args: Args, private readonly io: AdminIO) {
    this.base = `http://${addr}`;
    this.verbose = args.flags.has("verbose");
  }

  private has(name: string): boolean {
    return this.args.flags.has(name);
  }

  private str(name: string): string {
    const v = this.args.flags.get(name);
    if (typeof v !== "string" || v === "") throw new UsageError(`--${name} is required`);
    return v;
  }

  private int(name: string): number {
    const v = this.str(name);
    if (!/^[+-]?\d+$/.test(v)) throw new UsageError(`option --${name} = ${v}: not an integer`);
    return Number(v);
  }

  /** One call; on failure prints codis-admin's two lines and aborts with Failed. */
  private async call<T>(what: string, method: "GET" | "PUT", path: string, body?: unknown): Promise<T> {
    const url = this.base + path;
    if (this.verbose) this.io.err(`call rpc ${what} to dashboard ${this.addr}: ${method} ${path}\n`);
    try {
      // codis-admin's client: 1 minute for the whole request.
      return await apiCall<T>(method, url, body, 60_000);
    } catch (e) {
      const why = e instanceof RemoteError ? `[Remote Error] ${e.remoteCause}` : (e as Error).message;
      this.io.err(`call rpc ${what} to dashboard ${this.addr} failed\n${why}\n`);
      throw new Failed(why);
    }
  }

  private put<T = unknown>(what: string, route: string, body?: unknown): Promise<T> {
    return this.call<T>(what, "PUT", `/api/topom/${route}`, body);
  }

  private json(v: unknown): void {
    this.io.out(JSON.stringify(v === undefined ? null : v, null, 4) + "\n");
  }

  async run(): Promise<void> {
    const model = await this.call<{ product_name?: string }>("model", "GET", "/api/topom/model");
    this.x = xauth(model?.product_name ?? "");
    await this.call("xping", "GET", `/api/topom/xping/${this.x}`);
    const x = this.x;
    const f = (n: string): boolean => this.has(n);

    if (f("shutdown")) return void (await this.put("shutdown", `shutdown/${x}`));
    if (f("reload")) return void (await this.put("reload", `reload/${x}`));
    if (f("log-level")) {
      const v = this.str("log-level").toUpperCase();
      const level = v === "WARNING" ? "WARN" : v;
      if (!["ERROR", "DEBUG", "WARN", "INFO", "NONE"].includes(level)) throw new UsageError(`option --log-level = ${this.str("log-level")}`);
      return void (await this.put("loglevel", `loglevel/${x}/${level}`));
    }
    if (f("slots-status")) return this.json(await this.call("slots", "GET", `/api/topom/slots/${x}`));
    if (f("slots-assign")) return this.slotsAssign();
    if (f("create-proxy")) return void (await this.put("create-proxy", `proxy/create/${x}/${enc(this.str("addr"))}`));
    if (f("online-proxy")) return void (await this.put("online-proxy", `proxy/online/${x}/${enc(this.str("addr"))}`));
    if (f("remove-proxy")) {
      const force = f("force") ? 1 : 0;
      for (const t of await this.proxyTokens()) await this.put("remove-proxy", `proxy/remove/${x}/${enc(t)}/${force}`);
      return;
    }
    if (f("reinit-proxy")) {
      if (f("all")) {
        const s = await this.stats();
        for (const p of s.proxy.models) {
          this.io.out(`reinit proxy: ${JSON.stringify(p, null, 4)}\n`);
          await this.put("reinit-proxy", `proxy/reinit/${x}/${enc(p.token)}`);
        }
        return;
      }
      for (const t of await this.proxyTokens()) await this.put("reinit-proxy", `proxy/reinit/${x}/${enc(t)}`);
      return;
    }
    if (f("proxy-status")) return this.proxyStatus(await this.stats());
    if (f("create-group")) return void (await this.put("create-group", `group/create/${x}/${this.int("gid")}`));
    if (f("remove-group")) return void (await this.put("remove-group", `group/remove/${x}/${this.int("gid")}`));
    if (f("resync-group")) {
      if (f("all")) {
        for (const g of (await this.stats()).group.models) await this.put("resync-group", `group/resync/${x}/${g.id}`);
        return;
      }
      return void (await this.put("resync-group", `group/resync/${x}/${this.int("gid")}`));
    }
    if (f("group-add")) {
      const gid = this.int("gid");
      const a = enc(this.str("addr"));
      const dc = this.args.flags.get("datacenter");
      const route = typeof dc === "string" && dc !== "" ? `group/add/${x}/${gid}/${a}/${enc(dc)}` : `group/add/${x}/${gid}/${a}`;
      return void (await this.put("group-add-server", route));
    }
    if (f("group-del")) return void (await this.put("group-del-server", `group/del/${x}/${this.int("gid")}/${enc(this.str("addr"))}`));
    if (f("replica-groups")) {
      if (!f("enable") && !f("disable")) throw new UsageError("--replica-groups needs --enable or --disable");
      return void (await this.put("replica-groups", `group/replica-groups/${x}/${this.int("gid")}/${enc(this.str("addr"))}/${f("enable") ? 1 : 0}`));
    }
    if (f("promote-server")) {
      await this.put("group-promote-server", `group/promote/${x}/${this.int("gid")}/${enc(this.str("addr"))}`);
      return this.groupStatus(await this.stats());
    }
    if (f("group-status")) return this.groupStatus(await this.stats());
    if (f("sentinel-add")) return void (await this.put("add-sentinel", `sentinels/add/${x}/${enc(this.str("addr"))}`));
    if (f("sentinel-del")) return void (await this.put("del-sentinel", `sentinels/del/${x}/${enc(this.str("addr"))}/${f("force") ? 1 : 0}`));
    if (f("sentinel-resync")) return void (await this.put("resync-sentinels", `sentinels/resync-all/${x}`));
    if (f("sync-action")) {
      const a = enc(this.str("addr"));
      if (f("create")) return void (await this.put("create-sync-action", `group/action/create/${x}/${a}`));
      if (f("remove")) return void (await this.put("remove-sync-action", `group/action/remove/${x}/${a}`));
      throw new UsageError("--sync-action needs --create or --remove");
    }
    if (f("slot-action")) return this.slotAction();
    if (f("rebalance")) return this.rebalance();
    return this.overview();
  }

  private async stats(): Promise<Stats> {
    return this.call<Stats>("stats", "GET", `/api/topom/stats/${this.x}`);
  }

  private async overview(): Promise<void> {
    const o = await this.call<Overview>("overview", "GET", "/topom");
    const s = o.stats;
    const pick: Record<string, unknown> = {
      config: o.config,
      model: o.model,
      stats: s,
      slots: s?.slots,
      group: s?.group,
      proxy: s?.proxy,
      "list-group": s?.group.models,
      "list-proxy": s?.proxy.models,
    };
    for (const k of ["list-group", "list-proxy"]) if (this.has(k)) return this.json(pick[k]);
    if (this.args.word) return this.json(pick[this.args.word]);
    this.json(o);
  }

  private async slotsAssign(): Promise<void> {
    const beg = this.int("beg");
    const end = this.int("end");
    const offline = this.has("offline");
    const gid = offline ? 0 : this.int("gid");
    const body = [];
    for (let i = beg; i <= end; i++) body.push({ id: i, group_id: gid, action: {} });
    if (!this.has("confirm")) return this.json(body);
    await this.put("slots-assign", offline ? `slots/assign/${this.x}/offline` : `slots/assign/${this.x}`, body);
  }

  private async slotAction(): Promise<void> {
    const x = this.x;
    if (this.has("create")) return void (await this.put("create-slot-action", `slots/action/create/${x}/${this.int("sid")}/${this.int("gid")}`));
    if (this.has("remove")) return void (await this.put("remove-slot-action", `slots/action/remove/${x}/${this.int("sid")}`));
    if (this.has("create-some")) {
      return void (await this.put("create-slot-action-some",
        `slots/action/create-some/${x}/${this.int("gid-from")}/${this.int("gid-to")}/${this.int("num-slots")}`));
    }
    if (this.has("create-range")) {
      return void (await this.put("create-slot-action-range", `slots/action/create-range/${x}/${this.int("beg")}/${this.int("end")}/${this.int("gid")}`));
    }
    if (this.has("interval")) return void (await this.put("slot-action-interval", `slots/action/interval/${x}/${this.int("interval")}`));
    if (this.has("disabled")) return void (await this.put("slot-action-disabled", `slots/action/disabled/${x}/${this.int("disabled") !== 0 ? 1 : 0}`));
    throw new UsageError("--slot-action needs --create, --remove, --create-some, --create-range, --interval or --disabled");
  }

  private async rebalance(): Promise<void> {
    const plan = await this.put<Record<string, number>>("slot-rebalance", `slots/rebalance/${this.x}/${this.has("confirm") ? 1 : 0}`);
    const sids = Object.keys(plan ?? {}).map(Number).sort((a, b) => a - b);
    if (sids.length === 0) {
      this.io.out("nothing changes\n");
      return;
    }
    const pad = (n: number): string => String(n).padStart(4, "0");
    let beg = 0;
    let end = -1;
    let gid = -1;
    for (const sid of sids) {
      if (beg <= end) {
        if (sid === end + 1 && plan[String(sid)] === gid) {
          end = sid;
          continue;
        }
        this.io.out(`[${pad(beg)},${pad(end)}] => ${gid}\n`);
      }
      beg = end = sid;
      gid = plan[String(sid)]!;
    }
    if (beg <= end) this.io.out(`[${pad(beg)},${pad(end)}] => ${gid}\n`);
    this.io.out("done\n");
  }

  /** Tokens for --token, or the proxies whose admin_addr / id match --addr / --pid. */
  private async proxyTokens(): Promise<string[]> {
    if (this.has("token")) return [this.str("token")];
    let match: (p: ProxyJson) => boolean;
    let what: string;
    if (this.has("pid")) {
      const pid = this.int("pid");
      match = (p) => (p.id ?? 0) === pid;
      what = `id = ${pid}`;
    } else if (this.has("addr")) {
      const a = this.str("addr");
      match = (p) => p.admin_addr === a;
      what = `addr = ${a}`;
    } else {
      throw new UsageError("can't find specific proxy");
    }
    const tokens = (await this.stats()).proxy.models.filter(match).map((p) => p.token);
    if (tokens.length === 0 && !this.has("force")) {
      this.io.err(`can't find specific proxy with ${what}\n`);
      throw new Failed(`can't find specific proxy with ${what}`);
    }
    return tokens;
  }

  private proxyStatus(s: Stats): void {
    const models = s.proxy.models;
    const wpid = Math.max(0, ...models.map((p) => String(p.id ?? 0).length));
    const wa = Math.max(0, ...models.map((p) => p.admin_addr.length));
    const wp = Math.max(0, ...models.map((p) => p.proxy_addr.length));
    for (const p of models) {
      const st = s.proxy.stats[p.token];
      const flag = !st ? "[?]" : st.error ? "[E]" : st.timeout || !st.stats ? "[T]" : "[ ]";
      this.io.out(`${flag} proxy-${String(p.id ?? 0).padStart(wpid, "0")} [T] ${p.token} [A] ${p.admin_addr.padEnd(wa)} [P] ${p.proxy_addr.padEnd(wp)}\n`);
    }
  }

  private groupStatus(s: Stats): void {
    const models = s.group.models;
    const backends = s.backends ?? {};
    const kindOf = (addr: string): string => {
      const b = backends[addr];
      return b ? `${b.kind === "redis" ? b.server : b.kind} ${b.version}` : "?";
    };
    const wgid = Math.max(0, ...models.map((g) => String(g.id).length));
    const widx = Math.max(0, ...models.flatMap((g) => g.servers.map((_, i) => String(i).length)));
    const waddr = Math.max(0, ...models.flatMap((g) => g.servers.map((x) => x.server.length)));
    const wkind = Math.max(0, ...models.flatMap((g) => g.servers.map((x) => kindOf(x.server).length)));
    for (const g of models) {
      const owned = s.slots.filter((m) => m.group_id === g.id).length;
      g.servers.forEach((x, i) => {
        const head = `group-${String(g.id).padStart(wgid, "0")} [${String(i).padStart(widx, "0")}] ${x.server.padEnd(waddr)} ${kindOf(x.server).padEnd(wkind)}`;
        const st = s.group.stats[x.server];
        if (!st) return this.io.out(`[?] ${head}\n`);
        if (st.error) return this.io.out(`[E] ${head}\n`);
        if (st.timeout || !st.stats) return this.io.out(`[T] ${head}\n`);
        const b = backends[x.server];
        if (b?.kind === "pika-sharding") {
          // Replication is per slot: INFO's role says nothing; the slot summary does.
          const p = b.pika_slots;
          if (!p) return this.io.out(`[E] ${head}      ==> ${b.error ?? "no slot summary"}\n`);
          const master = g.servers[0]!.server;
          if (i === 0) {
            const ok = p.master >= owned && p.total === p.master;
            return this.io.out(`${ok ? "[ ]" : "[X]"} ${head}      ==> NO:ONE (${p.master} slots as master, group owns ${owned})\n`);
          }
          const following = p.following[master] ?? 0;
          const ok = following >= owned && p.not_linked === 0;
          return this.io.out(`${ok ? "[ ]" : "[X]"} ${head}      ==> ${master}:${p.not_linked === 0 ? "up" : "down"} (${following} of ${owned} slots follow it${p.not_linked ? `, ${p.not_linked} not linked` : ""})\n`);
        }
        const ma = st.stats.master_addr;
        const actual = ma !== undefined ? `${ma}:${st.stats.master_link_status ?? ""}` : "NO:ONE";
        const expect = i === 0 ? "NO:ONE" : `${g.servers[0]!.server}:up`;
        this.io.out(`${actual === expect ? "[ ]" : "[X]"} ${head}      ==> ${actual}\n`);
      });
    }
  }
}

/** Path segments: escape what a URL path cannot carry as is (codis-admin sends addresses raw). */
function enc(s: string): string {
  return encodeURIComponent(s).replace(/%3A/gi, ":");
}
