// Slots leave the migrating state as soon as the mover proved them empty, not when the whole
// round is done: while a slot migrates, every request of it costs proxies a step on the source
// before the target (a second backend round trip), so a slot that waited for the last of its
// round's 100 slots made its clients pay that for nothing. The mover reports each slot it saw
// empty (onSlotDone); this pushes `finished` for those slots to every proxy, a few at a time.
//
// Safe by the same argument as the round's own `finished` push (migration.ts, complete()): the
// mover itself saw the source hold no key of the slot, and no proxy writes a migrating slot's
// source, so the target holds every key. The pushes are an optimisation only: nothing is stored
// here, a failed push is logged and left to complete(), which pushes `finished` for the whole
// round again and stores it. A proxy that is re-filled meanwhile from the stored `migrating`
// state simply forwards again from an empty source until then.
import { errText, type Logger } from "./log.js";

/** Pushes `finished` for done slots, one push at a time, batching what arrives meanwhile. */
export class EarlyFinisher {
  private pending: number[] = [];
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  /**
   * @param push pushes `finished` for these slots to every proxy
   * @param delayMs how long a first done slot waits for others to share its push
   */
  constructor(
    private readonly push: (sids: number[]) => Promise<void>,
    private readonly log: Logger,
    private readonly delayMs = 20,
  ) {}

  /** A slot the mover proved empty on the source. */
  slotDone(sid: number): void {
    this.pending.push(sid);
    if (this.running === null && this.timer === null) this.timer = setTimeout(() => this.flush(), this.delayMs);
  }

  private flush(): void {
    this.timer = null;
    if (this.running !== null || this.pending.length === 0) return;
    const sids = this.pending;
    this.pending = [];
    this.running = this.push(sids)
      .catch((e) => this.log.warn(`slot-[${sids.length <= 8 ? sids.join(",") : `${sids[0]}.. (${sids.length})`}] early push of finished failed (the round's own push follows): ${errText(e)}`))
      .finally(() => {
        this.running = null;
        if (this.pending.length !== 0) this.flush();
      });
  }

  /** Waits for the pushes under way; the slots not pushed yet are left to the caller. */
  async settle(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.pending = [];
    while (this.running !== null) await this.running;
  }
}
