// The key check of commands that are not split: every key (and every shard channel) a
// command names must hash to one slot, as Redis Cluster requires; the answer is that slot.
// Commands with one key at a fixed position never come here (KeyMode.Single): the check
// costs them nothing.
//
// Bytes are hashed in place (offsets into the request buffer); the index list is reused, so a
// check allocates nothing once the list has grown to the largest command seen.

import { slotOf } from "./slot.js";
import { collectKeys, KeyList } from "./key-specs.js";
import { KeyMode, lookupSub, sortOptions, type CommandInfo } from "./command-table.js";

/** The keys hash to different slots: `-CROSSSLOT ...`. */
export const CROSSSLOT = -1;
/** The command names no key (EVAL with numkeys 0, a malformed numkeys): any backend will do. */
export const NO_KEYS = -2;
/** SORT ... BY pattern whose keys may lie in other slots. */
export const SORT_BY_DENIED = -3;
/** SORT ... GET pattern whose keys may lie in other slots. */
export const SORT_GET_DENIED = -4;

const keys = new KeyList();
const patterns = new KeyList();

/**
 * The one slot of every key of a command, or CROSSSLOT, NO_KEYS, SORT_BY_DENIED,
 * SORT_GET_DENIED. info is the command (a container resolves its subcommand here).
 */
export function keysSlot(info: CommandInfo, buf: Uint8Array, args: Int32Array, argc: number): number {
  let cmd = info;
  if (cmd.keyMode === KeyMode.Subcommand) {
    if (argc < 2) return NO_KEYS;
    const sub = lookupSub(cmd, buf, args[2]!, args[3]!);
    if (sub === undefined) return NO_KEYS; // an unknown subcommand: the backend says so
    cmd = sub;
  }
  switch (cmd.keyMode) {
    case KeyMode.None:
      return NO_KEYS;
    case KeyMode.Single: {
      const i = cmd.routeIndex;
      return i < argc ? slotOf(buf, args[2 * i]!, args[2 * i + 1]!) : NO_KEYS;
    }
    case KeyMode.Multi:
      keys.n = 0;
      collectKeys(cmd.specs, buf, args, argc, keys);
      return commonSlot(buf, args);
    case KeyMode.Sort: {
      keys.n = 0;
      patterns.n = 0;
      collectKeys(cmd.specs, buf, args, argc, keys);
      const store = sortOptions(buf, args, argc, patterns);
      if (store > 0 && cmd.name === "SORT") keys.push(store);
      const slot = commonSlot(buf, args);
      if (slot < 0) return slot;
      for (let p = 0; p < patterns.n; p++) {
        const i = patterns.idx[p]!;
        const ps = patternSlot(buf, args[2 * i]!, args[2 * i + 1]!);
        if (ps === PATTERN_NO_KEY || ps === slot) continue;
        if (ps >= 0) return CROSSSLOT;
        // Redis 7.0 words the refusal by the option that carries the pattern.
        const opt = args[2 * (i - 1)]!;
        return (buf[opt]! | 0x20) === 0x62 /* b */ ? SORT_BY_DENIED : SORT_GET_DENIED;
      }
      return slot;
    }
    default:
      return NO_KEYS;
  }
}

/** The slot all keys collected share, CROSSSLOT, or NO_KEYS when there are none. */
function commonSlot(buf: Uint8Array, args: Int32Array): number {
  const n = keys.n;
  if (n === 0) return NO_KEYS;
  const idx = keys.idx;
  const i0 = idx[0]!;
  const slot = slotOf(buf, args[2 * i0]!, args[2 * i0 + 1]!);
  for (let k = 1; k < n; k++) {
    const i = idx[k]!;
    if (slotOf(buf, args[2 * i]!, args[2 * i + 1]!) !== slot) return CROSSSLOT;
  }
  return slot;
}

/** A SORT pattern that forms no key ("#", or no '*'). */
const PATTERN_NO_KEY = -2;
/** A pattern whose keys may lie in any slot. */
const PATTERN_ANY_SLOT = -1;

/**
 * The slot of every key a SORT BY/GET pattern forms, PATTERN_NO_KEY, or PATTERN_ANY_SLOT.
 * The first '*' is replaced by each element, and "->field" selects a hash field: the slot
 * is fixed only when a complete {tag} lies before the '*'.
 */
export function patternSlot(buf: Uint8Array, start: number, end: number): number {
  if (end - start === 1 && buf[start] === 0x23 /* # */) return PATTERN_NO_KEY;
  let star = -1;
  for (let i = start; i < end; i++) {
    if (buf[i] === 0x2a) {
      star = i;
      break;
    }
  }
  if (star < 0) return PATTERN_NO_KEY; // Redis forms no key from a pattern without '*'
  let open = -1;
  for (let i = start; i < star; i++) {
    if (buf[i] === 0x7b /* { */) {
      open = i;
      break;
    }
  }
  if (open < 0) return PATTERN_ANY_SLOT;
  for (let i = open + 1; i < star; i++) {
    if (buf[i] === 0x7d /* } */) return slotOf(buf, start, i + 1);
  }
  return PATTERN_ANY_SLOT;
}
