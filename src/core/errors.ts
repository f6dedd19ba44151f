// Every error text a client can see, in one place. Texts marked (codis) are codis-proxy 3.2's,
// kept byte for byte so that existing alerting and client code keep matching them.
import { errorReply } from "./resp-encoder.js";

/** (codis) dispatch-time failure prefix. */
export const handleRequest = (why: string) => `ERR handle request, ${why}`;
/** (codis) reply-time failure prefix. */
export const handleResponse = (why: string) => `ERR handle response, ${why}`;

/** (codis) a refused command; the connection stays open. */
export const notAllowed = (name: string) => handleRequest(`command '${name}' is not allowed`);
/** (codis) the slot has no backend. */
export const SLOT_NOT_READY = handleRequest("slot is not ready, may be offline");
/** (codis) written once before closing a connection accepted while the router is offline. */
export const ROUTER_NOT_ONLINE = "ERR router is not online";
/** (codis) written once before closing a connection over proxy_max_clients. */
export const MAX_CLIENTS = "ERR max number of clients reached";
/** (codis / Redis) AUTH family. */
export const NOAUTH = "NOAUTH Authentication required";
export const AUTH_NOT_SET = "ERR Client sent AUTH, but no password is set";
export const INVALID_PASSWORD = "ERR invalid password";
/** (codis) SELECT family. */
export const INVALID_DB = "ERR invalid DB index";
export const dbOutOfRange = (n: number) => `ERR invalid DB index, only accept DB [0,${n})`;
/** (Redis 7) wrong arity; name as Redis writes it: lower case, "container|sub" for a subcommand. */
export const wrongArgs = (name: string) => `ERR wrong number of arguments for '${name.toLowerCase()}' command`;
/** (Redis Cluster) the keys of one command (or one transaction) lie in several slots. */
export const CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot";
/** (Redis 7.0 cluster) SORT patterns that may form keys of other slots. */
export const SORT_BY_DENIED = "ERR BY option of SORT denied in Cluster mode.";
export const SORT_GET_DENIED = "ERR GET option of SORT denied in Cluster mode.";
/** (Redis) transactions. */
export const MULTI_NESTED = "ERR MULTI calls can not be nested";
export const EXEC_WITHOUT_MULTI = "ERR EXEC without MULTI";
export const DISCARD_WITHOUT_MULTI = "ERR DISCARD without MULTI";
export const WATCH_IN_MULTI = "ERR WATCH inside MULTI is not allowed";
export const EXECABORT = "EXECABORT Transaction discarded because of previous errors.";
/** (Redis) an EXEC refused before it ran (bad arity): the reason without its "ERR ". */
export const execAborted = (why: string) => `EXECABORT Transaction discarded because of: ${why.replace(/^ERR /, "")}`;
/** A command the proxy cannot queue in a transaction (it is answered by the proxy or fans out). */
export const notInTransaction = (name: string) => handleRequest(`command '${name}' is not allowed inside a transaction`);
/** The slot of a transaction changed owner before EXEC; nothing of it ran. */
export const txSlotMoved = (slot: number) =>
  `EXECABORT Transaction discarded because slot ${slot} changed owner while it was open`;
/** (Redis) a RESP2 client in subscribed mode sent another command. */
export const subscribedContext = (name: string) =>
  `ERR Can't execute '${name.toLowerCase()}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`;
/** (Redis) CLIENT SETNAME with a bad name. */
export const BAD_CLIENT_NAME = "ERR Client names cannot contain spaces, newlines or special characters.";
/** Every connection a worker may hold for one client at a time to this backend is taken. */
export const exclusiveExhausted = (addr: string, max: number) =>
  handleRequest(`too many blocked clients and transactions on backend ${addr} (backend_max_exclusive_conns = ${max})`);
/** Blocking commands need CLIENT UNBLOCK so a slot change never waits for a block. */
export const noClientUnblock = (addr: string) =>
  handleRequest(`blocking commands need CLIENT ID and CLIENT UNBLOCK (Redis >= 5), backend ${addr} has none`);
/** (Redis Cluster) keys of several hash tags in a slot being moved by a codis method. */
/** A blocking command or transaction waited too long for its slot to settle. */
export const slotBusy = (slot: number) => `TRYAGAIN slot ${slot} is being changed, try again`;
/** (codis) SLOTSINFO addr naming an unknown backend. */
export const backendNotFound = (addr: string) => `ERR backend server '${addr}' not found`;
/** (codis) bad slot numbers for SLOTSSCAN / SLOTSMAPPING. */
export const badSlotNum = (text: string, why: string) => `ERR parse slotnum '${text}' failed, ${why}`;
/** (Redis) HELLO with a version other than 2 or 3. */
export const NOPROTO = "NOPROTO unsupported protocol version";

/**
 * A backend failure, named with the backend address and the slot so an operator can tell
 * which group is sick from the client's error alone.
 */
export const backendFailure = (why: string, addr: string, slot: number) =>
  handleResponse(`backend conn failure, ${why} (backend ${addr}, slot ${slot})`);
/** (codis text + address) the connection to the backend dropped with the request pending. */
export const backendReset = (addr: string, slot: number) =>
  handleResponse(`backend conn reset (backend ${addr}, slot ${slot})`);
/** No reply from the backend within backend_recv_timeout. */
export const backendTimeout = (addr: string, slot: number, ms: number) =>
  handleResponse(`backend conn failure, no reply within ${ms} ms (backend ${addr}, slot ${slot})`);
/** A migration step (SLOTSMGRTTAGONE, wrapper, MIGRATE) failed for this request. */
export const migrateFailed = (why: string, from: string, slot: number) =>
  handleRequest(`migrate slot ${slot} from ${from} failed, ${why}`);
/**
 * A request waited slot_lock_wait_timeout for its locked slot and was failed without being
 * run: the dashboard has not pushed the step after `prepared` (or a slot change's drain is
 * stuck). The client may retry it.
 */
export const slotLocked = (slot: number, ms: number) =>
  handleRequest(`slot ${slot} is still locked after ${ms} ms (a migration step the dashboard started is not finished: is the dashboard running?), request not run`);
/** A reply the proxy had to merge or inspect was not the expected shape. */
export const badReply = (name: string, why: string) => handleResponse(`bad ${name} resp: ${why}`);

/** "ERR Protocol error: ..." as Redis words it; the connection is closed after it. */
export const protocolError = (text: string) => `ERR ${text}`;

// Pre-encoded replies for the hottest error paths.
export const SLOT_NOT_READY_REPLY = errorReply(SLOT_NOT_READY);
export const NOAUTH_REPLY = errorReply(NOAUTH);
