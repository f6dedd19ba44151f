// The web console's static files: plain HTML/CSS/JS modules shipped in the package (the build
// copies static/ beside this module in dist/), read from disk on each request so an
// --assets-dir can be edited while the server runs. No build step, no CDN.
import { promises as fsp } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { RawReply, Redirect, type Router } from "../http.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".woff2": "font/woff2",
};

/** The console's own files: static/ beside this module (src/ when run from source, dist/ once built). */
export function defaultAssetsDir(): string {
  return fileURLToPath(new URL("./static/", import.meta.url));
}

/** Which server the page talks to: the dashboard itself, or `slotway fe` in front of several. */
export type ConsoleMode = "dashboard" | "fe";

export interface Asset {
  body: Buffer;
  contentType: string;
}

export class Assets {
  readonly dir: string;

  constructor(dir: string = defaultAssetsDir()) {
    this.dir = path.resolve(dir);
  }

  /**
   * The file at a URL path relative to the assets folder ("" or a folder → its index.html);
   * undefined when there is none. Segments that could leave the folder (".."), hidden names and
   * NULs are refused, so only files under the folder are ever read.
   */
  async get(rel: string): Promise<Asset | undefined> {
    let segs: string[];
    try {
      segs = rel.split("/").filter((s) => s !== "").map((s) => decodeURIComponent(s));
    } catch {
      return undefined;
    }
    if (segs.some((s) => s.startsWith(".") || s.includes("\0") || s.includes("/") || s.includes("\\"))) return undefined;
    let file = path.join(this.dir, ...segs);
    if (file !== this.dir && !file.startsWith(this.dir + path.sep)) return undefined;
    try {
      let st = await fsp.stat(file);
      if (st.isDirectory()) {
        file = path.join(file, "index.html");
        st = await fsp.stat(file);
      }
      if (!st.isFile()) return undefined;
      const body = await fsp.readFile(file);
      return { body, contentType: TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream" };
    } catch {
      return undefined;
    }
  }
}

/** The small JSON the page reads first to learn how to reach the API. */
export function envJson(mode: ConsoleMode): string {
  return JSON.stringify({ mode });
}

const NOT_FOUND = new RawReply("404 page not found\n", "text/plain; charset=utf-8", 404);

/**
 * Serves the console under /ui/ on a codis-style router. Every other route keeps its codis
 * answer (`/` still redirects to /topom): codis tools read them.
 */
export function mountConsole(r: Router, mode: ConsoleMode, assets = new Assets()): void {
  r.get("/ui", async (req) => {
    // Without the slash, the page's relative URLs (app.js, ...) would resolve against "/".
    if (!req.path.endsWith("/")) return new Redirect("/ui/");
    return (await reply(assets, "")) ?? NOT_FOUND;
  });
  r.get("/ui/env.json", () => new RawReply(envJson(mode), "application/json; charset=utf-8"));
  r.get("/ui/:file", async (req) => (await reply(assets, req.params.file ?? "")) ?? NOT_FOUND);
}

async function reply(assets: Assets, rel: string): Promise<RawReply | undefined> {
  const a = await assets.get(rel);
  return a && new RawReply(a.body, a.contentType);
}
