// How the control plane reaches group servers: the project's Redis client.
import { RedisClient } from "../redis-client.js";
import type { RedisConnector } from "./mover.js";

/** The connector the dashboard uses in production (tests pass fakes). */
export const defaultConnect: RedisConnector = (addr, opts) => RedisClient.connect(addr, opts);
