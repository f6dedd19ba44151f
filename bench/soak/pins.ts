// Keys confined to a set of slots. A Pika 3.4 (sharding) server must hold every slot a key may
// hash to, and each slot costs it ~26 file descriptors and seconds to add, so a short soak on
// Pika 3.4 uses a few dozen slots instead of 1024: every key name of the load gets a suffix
// `~N`, with the smallest N that puts it in an allowed slot. Names keep their shape (no hash
// tag is added; a family's tag gets the suffix inside its braces, so the family stays one slot).
import { slotOfKey } from "../../src/core/slot.js";

export class SlotPins {
  private readonly allowed = new Uint8Array(1024);
  private readonly memo = new Map<string, string>();
  readonly count: number;

  constructor(slots: readonly number[]) {
    for (const s of slots) {
      if (!Number.isInteger(s) || s < 0 || s > 1023) throw new Error(`slot ${s} is not within 0-1023`);
      this.allowed[s] = 1;
    }
    this.count = this.allowed.reduce((n, x) => n + x, 0);
    if (this.count === 0) throw new Error("no slot to put keys in");
  }

  /** base itself when it already hashes to an allowed slot, else base~N. base must not hold braces. */
  pin(base: string): string {
    if (this.allowed[slotOfKey(base)]) return base;
    let k = this.memo.get(base);
    if (k !== undefined) return k;
    for (let n = 0; ; n++) {
      k = `${base}~${n}`;
      if (this.allowed[slotOfKey(k)]) break;
    }
    this.memo.set(base, k);
    return k;
  }
}

/** Parses "0-31,512-543" (ranges and single slots) into slot numbers. */
export function parseSlotList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    const a = m ? Number(m[1]) : NaN;
    const b = m?.[2] !== undefined ? Number(m[2]) : a;
    if (!m || a > b || b > 1023) throw new Error(`"${part}" is not a slot or a range A-B within 0-1023`);
    for (let s = a; s <= b; s++) out.push(s);
  }
  return [...new Set(out)].sort((x, y) => x - y);
}

/** "0-31,512-543" */
export function describeSlots(slots: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < slots.length; ) {
    let j = i;
    while (j + 1 < slots.length && slots[j + 1] === slots[j]! + 1) j++;
    parts.push(i === j ? `${slots[i]}` : `${slots[i]}-${slots[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}
