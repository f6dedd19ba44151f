// HTTP plumbing shared by the proxy admin API and the dashboard API, with codis's wire
// conventions (shared/codis-dashboard-api.md §0):
//  - routing looks at the path only (query ignored), one trailing "/" is optional, a ":param"
//    matches one non-empty segment and is %-decoded;
//  - no route (or wrong method) → 404 "404 page not found"; GET routes also answer HEAD;
//  - success → 200, JSON indented with 4 spaces; failure → status 800 {"Cause", "Stack"}, the
//    Stack in codis's trace format so that codis-admin prints where the error came from.
import http from "node:http";
import { goHttpError, traceStack } from "./go-text.js";

/** An error whose message is shown to the API caller as the codis "Cause". */
export class ApiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ApiError";
  }
}

/** Returned by a handler to answer with a redirect instead of JSON. */
export class Redirect {
  constructor(readonly location: string) {}
}

/** Returned by a handler to answer with raw text (e.g. Prometheus metrics, HTML). */
export class RawReply {
  constructor(readonly body: string | Buffer, readonly contentType: string, readonly status = 200) {}
}

export interface ApiRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  /** Raw body (bounded by maxBodyBytes). */
  body: Buffer;
  headers: http.IncomingHttpHeaders;
  remoteAddress: string;
  /** Parses the body as JSON; throws ApiError on malformed input. */
  json<T = unknown>(): T;
}

export type Handler = (req: ApiRequest) => unknown;

interface Route {
  method: string;
  segments: string[];
  handler: Handler;
}

const MAX_BODY_BYTES = 16 * 1024 * 1024;

export class Router {
  private readonly routes: Route[] = [];

  get(path: string, handler: Handler): this {
    return this.add("GET", path, handler);
  }
  put(path: string, handler: Handler): this {
    return this.add("PUT", path, handler);
  }
  post(path: string, handler: Handler): this {
    return this.add("POST", path, handler);
  }
  any(path: string, handler: Handler): this {
    return this.add("*", path, handler);
  }

  private add(method: string, path: string, handler: Handler): this {
    this.routes.push({ method, segments: splitPath(path), handler });
    return this;
  }

  /** Finds the route for a method and path; undefined means 404. */
  match(method: string, path: string): { handler: Handler; params: Record<string, string> } | undefined {
    const want = method === "HEAD" ? "GET" : method;
    const segs = splitPath(path);
    outer: for (const r of this.routes) {
      if (r.method !== "*" && r.method !== want) continue;
      if (r.segments.length !== segs.length) continue;
      const params: Record<string, string> = {};
      for (let i = 0; i < segs.length; i++) {
        const pat = r.segments[i]!;
        const seg = segs[i]!;
        if (pat.startsWith(":")) {
          if (seg.length === 0) continue outer;
          let value: string;
          try {
            value = decodeURIComponent(seg);
          } catch {
            continue outer;
          }
          params[pat.slice(1)] = value;
        } else if (pat !== seg) {
          continue outer;
        }
      }
      return { handler: r.handler, params };
    }
    return undefined;
  }

  /** A node:http request listener serving this router. */
  listener(onError?: (err: unknown, req: http.IncomingMessage) => void): http.RequestListener {
    return (req, res) => {
      void this.serve(req, res).catch((err) => {
        onError?.(err, req);
        if (!res.headersSent) sendError(res, err);
        else res.destroy();
      });
    };
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? "GET";
    const m = this.match(method, path);
    if (!m) {
      req.resume();
      res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
      res.end("404 page not found\n");
      return;
    }
    const body = await readBody(req, MAX_BODY_BYTES);
    const apiReq: ApiRequest = {
      method,
      path,
      params: m.params,
      body,
      headers: req.headers,
      remoteAddress: req.socket.remoteAddress ?? "",
      json<T>(): T {
        try {
          return JSON.parse(body.toString("utf8")) as T;
        } catch (e) {
          throw new ApiError(`invalid json body, ${(e as Error).message}`);
        }
      },
    };
    const result = await m.handler(apiReq);
    if (result instanceof Redirect) {
      res.writeHead(302, { Location: result.location });
      res.end();
      return;
    }
    if (result instanceof RawReply) {
      res.writeHead(result.status, { "Content-Type": result.contentType });
      res.end(method === "HEAD" ? undefined : result.body);
      return;
    }
    const text = JSON.stringify(result === undefined ? null : result, null, 4);
    res.writeHead(200, { "Content-Type": "application/json; charset=utf-8" });
    res.end(method === "HEAD" ? undefined : text);
  }
}

function splitPath(path: string): string[] {
  let p = path;
  if (p.length > 1 && p.endsWith("/")) p = p.slice(0, -1);
  return p.split("/").slice(1);
}

function sendError(res: http.ServerResponse, err: unknown): void {
  const cause = err instanceof Error ? err.message : String(err);
  res.writeHead(800, { "Content-Type": "application/json; charset=utf-8" });
  res.end(JSON.stringify({ Cause: cause, Stack: traceStack(err) }, null, 4));
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new ApiError(`request body larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** An error answered by a codis-style API (status 800/1500 with a Cause). */
export class RemoteError extends Error {
  constructor(readonly remoteCause: string, readonly status: number) {
    super(remoteCause);
    this.name = "RemoteError";
  }
}

/**
 * Calls a codis-style JSON API. Resolves with the decoded 200 body; rejects with RemoteError
 * for 800/1500 replies, and with a plain Error ("[<code>] <text> - <url>") for other codes,
 * connection failures and timeouts.
 */
export function apiCall<T = unknown>(
  method: "GET" | "PUT" | "POST",
  url: string,
  body?: unknown,
  timeoutMs = 5000,
  extraHeaders?: Record<string, string>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(url, {
      method,
      timeout: timeoutMs,
      headers: {
        ...(payload ? { "Content-Type": "application/json", "Content-Length": payload.length } : { "Content-Length": 0 }),
        ...extraHeaders,
      },
    });
    // Go's net/http texts, as codis tools print them.
    let timedOut = false;
    req.on("timeout", () => {
      timedOut = true;
      req.destroy();
    });
    req.on("error", (e) => reject(timedOut
      ? new Error(`${method.charAt(0)}${method.slice(1).toLowerCase()} "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`)
      : new Error(goHttpError(method, url, new URL(url).host, e), { cause: e })));
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const status = res.statusCode ?? 0;
        if (status === 200) {
          try {
            resolve((text.length ? JSON.parse(text) : undefined) as T);
          } catch (e) {
            reject(new Error(`${method} ${url}: bad json reply, ${(e as Error).message}`));
          }
          return;
        }
        if (status === 800 || status === 1500) {
          let cause = "remote error is empty";
          try {
            const o = JSON.parse(text) as { Cause?: string };
            if (o && typeof o.Cause === "string") cause = o.Cause;
          } catch {
            if (text.trim()) cause = text.trim();
          }
          reject(new RemoteError(cause, status));
          return;
        }
        reject(new Error(`[${status}] ${http.STATUS_CODES[status] ?? ""} - ${url}`));
      });
    });
    req.end(payload);
  });
}
