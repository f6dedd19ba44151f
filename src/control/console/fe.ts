// `slotway fe`: the web console for several products, as codis-fe. One HTTP server:
//   - the console's files (from the package, or --assets-dir) at / (and /ui/, as a dashboard serves them);
//   - GET /list: the product names, sorted (sources re-read at most every 5 s, as codis-fe);
//   - anything else is forwarded to the dashboard of the product named by ?forward=<product>,
//     method, path, query and body unchanged; an unknown product gets 403 with no body, an
//     unreachable dashboard 502, as codis-fe (Go's reverse proxy) answers.
// So the same page drives one dashboard directly (/ui/ on the dashboard) or many through fe.
import http from "node:http";
import { appendFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { parseArgs } from "node:util";
import { openStore } from "../store/index.js";
import { errText, Logger, parseLogLevel } from "../dashboard/log.js";
import { Assets, envJson } from "./assets.js";
import { ListFileSource, StoreSource, type ProductMap, type ProductSource } from "./fe-products.js";

const RELOAD_MS = 5000;
const FORWARD_TIMEOUT_MS = 60_000;
// Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded.
const HOP = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "upgrade"]);

export interface FeOptions {
  source: ProductSource;
  assets?: Assets;
  log?: Logger;
  reloadMs?: number;
}

export class FeServer {
  private routes: ProductMap = new Map();
  private loadedAt = -Infinity;
  private loading?: Promise<void>;
  private readonly assets: Assets;
  private readonly log: Logger;
  private readonly reloadMs: number;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  constructor(private readonly opts: FeOptions) {
    this.assets = opts.assets ?? new Assets();
    this.log = opts.log ?? new Logger("NONE");
    this.reloadMs = opts.reloadMs ?? RELOAD_MS;
  }

  /** The product names, sorted; the sources are read again when the last read is older than reloadMs. */
  async names(): Promise<string[]> {
    await this.reload();
    return [...this.routes.keys()].sort();
  }

  /** The dashboard address of a product, if known (re-reading the source when it is not). */
  async lookup(name: string): Promise<string | undefined> {
    if (name === "") return undefined;
    if (!this.routes.has(name)) await this.reload();
    return this.routes.get(name);
  }

  private reload(): Promise<void> {
    if (performance.now() - this.loadedAt < this.reloadMs) return Promise.resolve();
    // One read at a time: concurrent requests wait for the same one.
    this.loading ??= this.opts.source.load().then(
      (m) => {
        this.routes = m;
      },
      (e) => {
        // The last good list stays in use: a file being rewritten or a store hiccup must not
        // take every product off the console.
        this.log.warn(`reload ${this.opts.source.what} failed: ${errText(e)}`);
      },
    ).finally(() => {
      this.loadedAt = performance.now();
      this.loading = undefined;
    });
    return this.loading;
  }

  listener(): http.RequestListener {
    return (req, res) => {
      this.serve(req, res).catch((e) => {
        this.log.warn(`${req.method} ${req.url}: ${errText(e)}`);
        if (!res.headersSent) {
          res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
          res.end("internal error\n");
        } else {
          res.destroy();
        }
      });
    };
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fe.invalid");
    const method = req.method ?? "GET";
    if (method === "GET" || method === "HEAD") {
      const rel = url.pathname === "/ui" || url.pathname.startsWith("/ui/") ? url.pathname.slice(3) : url.pathname;
      if (rel === "/env.json") return send(res, method, 200, "application/json; charset=utf-8", envJson("fe"));
      if (url.pathname === "/list") {
        return send(res, method, 200, "application/json; charset=utf-8", JSON.stringify(await this.names(), null, 4));
      }
      if (url.pathname === "/ui") {
        res.writeHead(302, { Location: "/ui/" });
        res.end();
        return;
      }
      // As codis-fe: a file of the assets folder wins over forwarding.
      const a = await this.assets.get(rel);
      if (a) return send(res, method, 200, a.contentType, a.body);
    }
    const addr = await this.lookup(url.searchParams.get("forward") ?? "");
    if (addr === undefined) {
      req.resume();
      res.writeHead(403);
      res.end();
      return;
    }
    this.forward(req, res, addr);
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse, addr: string): void {
    const target = splitHostPort(addr);
    if (!target) {
      this.log.warn(`forward: invalid dashboard address ${addr}`);
      req.resume();
      res.writeHead(502);
      res.end();
      return;
    }
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k) && v !== undefined) headers[k] = v;
    // The dashboard logs who made each API call from this header.
    const client = req.socket.remoteAddress ?? "";
    const prior = req.headers["x-forwarded-for"];
    headers["x-forwarded-for"] = prior ? `${String(prior)}, ${client}` : client;
    headers.host = addr;
    const up = http.request({
      host: target.host, port: target.port, method: req.method, path: req.url, headers, agent: this.agent, timeout: FORWARD_TIMEOUT_MS,
    });
    up.on("timeout", () => up.destroy(new Error(`no answer in ${FORWARD_TIMEOUT_MS} ms`)));
    up.on("error", (e) => {
      this.log.warn(`forward ${req.method} ${req.url} to ${addr}: ${errText(e)}`);
      if (!res.headersSent) {
        res.writeHead(502);
        res.end();
      } else {
        res.destroy();
      }
    });
    up.on("response", (r) => {
      const out: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(r.headers)) if (!HOP.has(k) && v !== undefined) out[k] = v;
      // codis answers failures with status 800, which Node accepts (100-999).
      res.writeHead(r.statusCode ?? 502, r.statusMessage, out);
      r.pipe(res);
      r.on("error", () => res.destroy());
    });
    // A client that goes away stops the forwarded request too.
    res.on("close", () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  }

  close(): void {
    this.agent.destroy();
  }
}

function send(res: http.ServerResponse, method: string, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { "Content-Type": type });
  res.end(method === "HEAD" ? undefined : body);
}

/** "host:port", "[v6]:port" or ":port" (all interfaces, as Go's net.Listen) → parts; undefined if malformed. */
export function splitHostPort(addr: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? m[2] ?? "", port };
}

const USAGE = `Usage: slotway fe --listen ADDR (--dashboard-list FILE | --filesystem ROOT | --etcd ADDR | --etcdv2 ADDR |
                  --zookeeper ADDR) [--assets-dir DIR] [--log FILE] [--log-level LEVEL] [--pidfile FILE] [--ncpu N]

The web console for several products, as codis-fe: open http://ADDR/ in a browser, pick a
product, and the page drives that product's dashboard (slotway's or codis's) through this
server. A single dashboard serves the same console itself at http://<admin_addr>/ui/.

  --listen ADDR           address to serve on: host:port, or :port for all interfaces
  --dashboard-list FILE   products from a JSON file [{"name": "<product>", "dashboard": "host:port"}]
                          (what codis-admin --dashboard-list prints); re-read every 5 s
  --filesystem ROOT       products from a filesystem coordinator store (codis layout under ROOT)
  --etcd ADDR             products from etcd through its v3 API (host:port[,host:port...])
  --etcdv2 ADDR           products from etcd through its v2 API (where codis 3.2 keeps them)
  --etcd-auth USER:PWD    etcd user (v3 and v2)
  --zookeeper ADDR        products from ZooKeeper (host:port[,host:port...]); --zookeeper-auth USER:PWD
  --assets-dir DIR        serve the page from DIR instead of the files in the package
  --log FILE              append the log to FILE instead of stderr
  --log-level LEVEL       DEBUG, INFO, WARN, ERROR or NONE (default INFO)
  --pidfile FILE          write the process id there while running
  --ncpu N                accepted for codis-fe's command line; no effect

Routes: GET /list (product names), static files, and every other request forwarded to the
dashboard of ?forward=<product> (403 when the product is unknown).
Exit status: 0 after SIGINT/SIGTERM, 1 when the store cannot be opened or ADDR cannot be bound,
2 on bad arguments.
`;

/** `slotway fe ...`; resolves with the exit status once stopped. */
export async function runFe(argv: string[]): Promise<number> {
  let values: {
    listen?: string; "dashboard-list"?: string; filesystem?: string; etcd?: string; etcdv2?: string; "etcd-auth"?: string;
    zookeeper?: string; "zookeeper-auth"?: string;
    "assets-dir"?: string; log?: string; "log-level"?: string; pidfile?: string; ncpu?: string; help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        listen: { type: "string", short: "l" },
        "dashboard-list": { type: "string", short: "d" },
        filesystem: { type: "string" },
        etcd: { type: "string" },
        etcdv2: { type: "string" },
        "etcd-auth": { type: "string" },
        zookeeper: { type: "string" },
        "zookeeper-auth": { type: "string" },
        "assets-dir": { type: "string" },
        log: { type: "string" },
        "log-level": { type: "string" },
        pidfile: { type: "string" },
        ncpu: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    process.stderr.write(`slotway fe: ${errText(e)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const usage = (msg: string): number => {
    process.stderr.write(`slotway fe: ${msg}\n\n${USAGE}`);
    return 2;
  };
  if (!values.listen) return usage("--listen ADDR is required");
  const listen = splitHostPort(values.listen);
  if (!listen) return usage(`invalid --listen ${values.listen}: want host:port or :port`);
  const sources = (["dashboard-list", "filesystem", "etcd", "etcdv2", "zookeeper"] as const).filter((k) => values[k] !== undefined);
  if (sources.length !== 1) {
    return usage(sources.length === 0
      ? "one of --dashboard-list, --filesystem, --etcd, --etcdv2 or --zookeeper is required"
      : `--${sources.join(" and --")} exclude each other`);
  }
  if (values.ncpu !== undefined && !/^\d+$/.test(values.ncpu)) return usage(`invalid --ncpu ${values.ncpu}`);
  const level = parseLogLevel(values["log-level"] ?? "INFO");
  if (!level) return usage(`invalid --log-level ${values["log-level"]}`);
  const logFile = values.log;
  const log = new Logger(level, logFile ? (line) => appendFileSync(logFile, line + "\n") : undefined);

  const kind = sources[0]!;
  const where = values[kind]!;
  let source: ProductSource;
  try {
    if (kind === "dashboard-list") {
      source = new ListFileSource(where);
    } else {
      const auth = kind === "zookeeper" ? values["zookeeper-auth"] : kind === "filesystem" ? undefined : values["etcd-auth"];
      const store = await openStore(kind, where, auth);
      source = new StoreSource(`--${kind} ${where}`, store, (m) => log.warn(m));
    }
  } catch (e) {
    log.error(`create '${kind}' client to '${where}' failed: ${errText(e)}`);
    return 1;
  }

  const assets = new Assets(values["assets-dir"]);
  const fe = new FeServer({ source, assets, log });
  const server = http.createServer(fe.listener());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port: listen.port, host: listen.host === "" ? undefined : listen.host }, () => resolve());
    });
  } catch (e) {
    log.error(`listen ${values.listen} failed: ${errText(e)}`);
    fe.close();
    await source.close().catch(() => undefined);
    return 1;
  }
  const bound = server.address() as net.AddressInfo;
  log.warn(`fe online: listen ${values.listen} (port ${bound.port}), products from ${source.what}, assets ${assets.dir}`);
  if (values.pidfile) writeFileSync(values.pidfile, `${process.pid}\n`);
  // Read the products once now, so a bad source shows in the log at start rather than at the first page load.
  void fe.names().then((n) => log.info(`products: ${n.join(", ") || "(none)"}`));

  const code = await new Promise<number>((resolve) => {
    const stop = (sig: string): void => {
      log.warn(`${sig}: shutting down`);
      server.close(() => resolve(0));
      server.closeAllConnections();
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  });
  fe.close();
  await source.close().catch(() => undefined);
  if (values.pidfile) rmSync(values.pidfile, { force: true });
  return code;
}
