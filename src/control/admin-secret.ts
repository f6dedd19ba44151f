// The admin APIs' optional second factor, beyond codis's xauth.
//
// codis guards its admin routes with an xauth derived from product_name, product_auth and the
// proxy's token, all of which but product_auth are public (GET /api/proxy/model). With an empty
// product_auth, anyone who reaches the admin port can compute it and shut the proxy down or
// rewrite its slots. slotway keeps that scheme as it is, so that codis-dashboard and
// codis-admin keep working, and adds `admin_secret`: when set, every route that changes
// something also needs the secret in the X-Slotway-Admin-Secret header. Reading routes (model,
// xping, stats, slots, /metrics) stay open to the xauth alone, as in codis.
import { createHash, timingSafeEqual } from "node:crypto";
import { ApiError, type ApiRequest } from "./http.js";

/** The request header that carries the admin secret. */
export const SECRET_HEADER = "x-slotway-admin-secret";

/** Throws unless the request carries `secret` (nothing is required when secret is empty). */
export function requireSecret(req: ApiRequest, secret: string): void {
  if (secret === "") return;
  const given = req.headers[SECRET_HEADER];
  const text = Array.isArray(given) ? given[0] : given;
  if (text === undefined || text === "") throw new ApiError(`missing admin secret: this route needs the ${SECRET_HEADER} header (admin_secret is set)`);
  // Compare digests, so neither the length nor the content leaks through timing.
  const a = createHash("sha256").update(text).digest();
  const b = createHash("sha256").update(secret).digest();
  if (!timingSafeEqual(a, b)) throw new ApiError("invalid admin secret");
}

/** True for an address only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * The warning to log at start-up when the admin API is exposed with only a public xauth
 * guarding it, or null when it is not.
 */
export function exposureWarning(adminAddr: string, productAuth: string, secret: string): string | null {
  if (productAuth !== "" || secret !== "") return null;
  const i = adminAddr.lastIndexOf(":");
  const host = i < 0 ? adminAddr : adminAddr.slice(0, i);
  if (isLoopbackHost(host)) return null;
  return `UNPROTECTED ADMIN API: admin_addr ${adminAddr} is reachable from other hosts, and with product_auth and ` +
    `admin_secret both empty its xauth can be computed by anyone from GET /api/proxy/model: anyone who reaches ` +
    `this port can shut the proxy down or rewrite its slots. Set admin_secret (slotway's dashboard sends it ` +
    `when its proxy_admin_secret is the same), or product_auth, or bind admin_addr to 127.0.0.1.`;
}
