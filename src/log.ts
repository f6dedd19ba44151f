// A small leveled logger writing one line per event to stderr. The level check is a
// number comparison, so disabled debug logging costs one branch.
import { threadId } from "node:worker_threads";

export const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 } as const;
export type LevelName = keyof typeof LEVELS;

let level: number = LEVELS.info;

export function setLogLevel(name: string): boolean {
  const n = LEVELS[name.toLowerCase() as LevelName];
  if (n === undefined) return false;
  level = n;
  return true;
}

export function logLevelName(): LevelName {
  return (Object.keys(LEVELS) as LevelName[]).find((k) => LEVELS[k] === level)!;
}

function emit(tag: string, msg: string): void {
  const who = threadId === 0 ? "main" : `w${threadId}`;
  process.stderr.write(`${new Date().toISOString()} ${tag} [${who}] ${msg}\n`);
}

export const log = {
  error(msg: string): void {
    if (level >= 0) emit("ERROR", msg);
  },
  warn(msg: string): void {
    if (level >= 1) emit("WARN ", msg);
  },
  info(msg: string): void {
    if (level >= 2) emit("INFO ", msg);
  },
  debug(msg: string): void {
    if (level >= 3) emit("DEBUG", msg);
  },
  get debugEnabled(): boolean {
    return level >= 3;
  },
};
