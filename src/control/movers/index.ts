// Mover selection: migration_method picks the protocol, but a server that does not know codis's
// slot commands can only be served by the redis mover, whatever the config says.
import { CodisMover } from "./codis-mover.js";
import { isUnknownCommand, type MoverMethod, type RedisConnector, type SlotMover } from "./mover.js";
import { RedisMover } from "./redis-mover.js";

export * from "./mover.js";
export { CodisMover } from "./codis-mover.js";
export { RedisMover } from "./redis-mover.js";

export function moverFor(method: MoverMethod): SlotMover {
  return method === "redis" ? new RedisMover() : new CodisMover(method);
}

/** What a server speaks: "codis" (answers SLOTSINFO) or "redis" (plain Redis/Valkey). */
export type BackendKind = "codis" | "redis";

/**
 * Asks a server SLOTSINFO. An "unknown command" reply means plain Redis/Valkey; any other
 * failure (connection, AUTH, timeout) is thrown with the server's own text.
 */
export async function probeBackendKind(connect: RedisConnector, addr: string, password: string | undefined, timeoutMs = 1000): Promise<BackendKind> {
  const conn = await connect(addr, { password, timeoutMs });
  try {
    await conn.call("SLOTSINFO", 0, 1);
    return "codis";
  } catch (e) {
    if (isUnknownCommand(e)) return "redis";
    throw e;
  } finally {
    conn.close();
  }
}
