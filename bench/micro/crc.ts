// CRC-32/IEEE candidates for the slot hash (DESIGN §3: keep the faster one for short keys).
// Each takes a key as a range [start, end) of a larger buffer, as the router has it; the native
// ones need a Buffer view of the range, and making that view is part of their cost, so it is
// measured both ways: view made per call (what the proxy would do) and views made in advance
// (the call boundary alone).

import zlib from "node:zlib";
import { crc32 as nodeRsCrc32 } from "@node-rs/crc32";
import { crc32 as jsCrc32, slotOf } from "../../src/core/slot.js";
import type { KeySet } from "./streams.js";

export type CrcFn = (buf: Buffer, start: number, end: number) => number;

/** zlib.crc32 exists from Node 20.15 / 22.2; undefined on older versions. */
const zlibCrc32: ((data: Uint8Array, value?: number) => number) | undefined =
  typeof (zlib as { crc32?: unknown }).crc32 === "function" ? zlib.crc32 : undefined;

export const CRC_FNS: ReadonlyArray<{ name: string; fn: CrcFn }> = [
  { name: "slotway crc32 (JS table)", fn: (b, s, e) => jsCrc32(b, s, e) },
  ...(zlibCrc32 ? [{ name: "node:zlib crc32", fn: (b: Buffer, s: number, e: number) => zlibCrc32(b.subarray(s, e)) }] : []),
  { name: "@node-rs/crc32", fn: (b, s, e) => nodeRsCrc32(b.subarray(s, e)) },
];

/**
 * Checks that every implementation gives the same CRC (and slotOf the same slot) on the test
 * vector and on the given keys; returns the problems found, empty when all agree.
 */
export function crcDisagreements(sets: readonly KeySet[], fns: ReadonlyArray<{ name: string; fn: CrcFn }> = CRC_FNS): string[] {
  const problems: string[] = [];
  const vector = Buffer.from("123456789");
  for (const { name, fn } of fns) {
    const v = fn(vector, 0, vector.length) >>> 0;
    if (v !== 0xcbf43926) problems.push(`${name}: crc32("123456789") = ${v.toString(16)}, want cbf43926`);
  }
  for (const ks of sets) {
    for (let i = 0; i < Math.min(8, ks.starts.length); i++) {
      const s = ks.starts[i]!;
      const e = s + ks.len;
      const want = jsCrc32(ks.buf, s, e);
      for (const { name, fn } of fns) {
        const got = fn(ks.buf, s, e) >>> 0;
        if (got !== want) problems.push(`${name}: key ${i} of ${ks.len} B: ${got.toString(16)} vs JS ${want.toString(16)}`);
      }
      // The keys hold no '{', so the slot is the whole key's CRC mod 1024.
      const slot = slotOf(ks.buf, s, e);
      if (slot !== (want & 1023)) problems.push(`slotOf: key ${i} of ${ks.len} B: ${slot} vs ${want & 1023}`);
    }
  }
  return problems;
}

// One pass function per implementation, each calling it directly: a shared loop taking the
// function as a parameter would make that call site polymorphic and stop V8 inlining the JS
// loop, which is exactly what the router's direct call to slotOf gets.

/** XOR of the CRCs of every key of the set (so nothing is optimised away). */
export function jsPass(ks: KeySet): () => number {
  const { buf, starts, len } = ks;
  return () => {
    let x = 0;
    for (let i = 0; i < starts.length; i++) x ^= jsCrc32(buf, starts[i]!, starts[i]! + len);
    return x;
  };
}

/** slotOf as the router calls it: tag scan plus CRC, mod 1024. */
export function slotPass(ks: KeySet): () => number {
  const { buf, starts, len } = ks;
  return () => {
    let x = 0;
    for (let i = 0; i < starts.length; i++) x ^= slotOf(buf, starts[i]!, starts[i]! + len);
    return x;
  };
}

export function zlibPass(ks: KeySet): (() => number) | undefined {
  const f = zlibCrc32;
  if (!f) return undefined;
  const { buf, starts, len } = ks;
  return () => {
    let x = 0;
    for (let i = 0; i < starts.length; i++) x ^= f(buf.subarray(starts[i]!, starts[i]! + len));
    return x;
  };
}

export function nodeRsPass(ks: KeySet): () => number {
  const { buf, starts, len } = ks;
  return () => {
    let x = 0;
    for (let i = 0; i < starts.length; i++) x ^= nodeRsCrc32(buf.subarray(starts[i]!, starts[i]! + len));
    return x;
  };
}

/** Views of every key made in advance: what remains of the native calls without a subarray each. */
export function presliced(ks: KeySet): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < ks.starts.length; i++) out.push(ks.buf.subarray(ks.starts[i]!, ks.starts[i]! + ks.len));
  return out;
}

export function zlibViewsPass(views: readonly Buffer[]): (() => number) | undefined {
  const f = zlibCrc32;
  if (!f) return undefined;
  return () => {
    let x = 0;
    for (let i = 0; i < views.length; i++) x ^= f(views[i]!);
    return x;
  };
}

export function nodeRsViewsPass(views: readonly Buffer[]): () => number {
  return () => {
    let x = 0;
    for (let i = 0; i < views.length; i++) x ^= nodeRsCrc32(views[i]!);
    return x;
  };
}
