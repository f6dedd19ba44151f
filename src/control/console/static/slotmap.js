// The 1024-slot map: a 32 × 32 grid on a canvas, each slot in its group's colour. A slot with an
// action shows its target too: pending as a corner of the target's colour, preparing to
// migrating split diagonally (source | target) with migrating outlined, finished in the target's
// colour outlined.
import { groupColor, MAX_SLOTS } from "./model.js";

const COLS = 32;
const CELL = 14;
const GAP = 2;
const PITCH = CELL + GAP;

export class SlotMap {
  constructor(canvas, { onHover, onPick } = {}) {
    this.canvas = canvas;
    this.slots = [];
    this.highlight = undefined;
    const size = COLS * PITCH - GAP;
    const dpr = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
    canvas.width = size * dpr;
    canvas.height = size * dpr;
    canvas.style.aspectRatio = "1 / 1";
    this.ctx = canvas.getContext("2d");
    this.ctx.scale(dpr, dpr);
    canvas.addEventListener("mousemove", (e) => onHover?.(this.slotAt(e)));
    canvas.addEventListener("mouseleave", () => onHover?.(undefined));
    canvas.addEventListener("click", (e) => {
      const sid = this.slotAt(e);
      if (sid !== undefined) onPick?.(sid, e.shiftKey);
    });
  }

  /** The slot under a mouse event, if any. */
  slotAt(e) {
    const r = this.canvas.getBoundingClientRect();
    const scale = (COLS * PITCH - GAP) / r.width;
    const x = (e.clientX - r.left) * scale;
    const y = (e.clientY - r.top) * scale;
    const col = Math.floor(x / PITCH);
    const row = Math.floor(y / PITCH);
    if (col < 0 || col >= COLS || row < 0 || x - col * PITCH > CELL || y - row * PITCH > CELL) return undefined;
    const sid = row * COLS + col;
    return sid < MAX_SLOTS ? sid : undefined;
  }

  /** Draws the slots; `range` ({beg, end}) is outlined as the operator's selection. */
  draw(slots, range) {
    this.slots = slots ?? [];
    const ctx = this.ctx;
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    for (let sid = 0; sid < MAX_SLOTS; sid++) {
      const m = this.slots[sid];
      const x = (sid % COLS) * PITCH;
      const y = Math.floor(sid / COLS) * PITCH;
      const state = m?.action?.state ?? "";
      const from = groupColor(m?.group_id ?? 0);
      const to = groupColor(m?.action?.target_id ?? 0);
      ctx.fillStyle = state === "finished" ? to : from;
      ctx.fillRect(x, y, CELL, CELL);
      if (state === "pending") {
        ctx.fillStyle = to;
        tri(ctx, x + CELL, y + CELL, x + CELL, y + CELL / 2, x + CELL / 2, y + CELL);
      } else if (state === "preparing" || state === "prepared" || state === "migrating") {
        ctx.fillStyle = to;
        tri(ctx, x + CELL, y, x + CELL, y + CELL, x, y + CELL);
      }
      if (state === "migrating" || state === "finished") {
        ctx.strokeStyle = "#1f2937";
        ctx.lineWidth = 1.5;
        ctx.strokeRect(x + 0.75, y + 0.75, CELL - 1.5, CELL - 1.5);
      }
      if (range && sid >= range.beg && sid <= range.end) {
        ctx.fillStyle = "rgba(255,255,255,0.55)";
        ctx.fillRect(x + 4, y + 4, CELL - 8, CELL - 8);
      }
    }
  }
}

function tri(ctx, x1, y1, x2, y2, x3, y3) {
  ctx.beginPath();
  ctx.moveTo(x1, y1);
  ctx.lineTo(x2, y2);
  ctx.lineTo(x3, y3);
  ctx.closePath();
  ctx.fill();
}
