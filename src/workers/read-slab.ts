// Read buffers for sockets read with Node's `onread` (no stream machinery, no allocation per
// read). Each read lands right after the previous one in a slab, a bump allocator: the bytes
// of earlier reads are never overwritten, so slices of them queued for forwarding stay valid.
// A slab is dropped (to the GC, once nothing refers to it) when too little room is left.

export class ReadSlab {
  private slab: Buffer;
  private pos = 0;

  /**
   * size: bytes per slab; minFree: the least room a read is offered (a smaller tail starts a
   * new slab), which is also the largest read when a slab is nearly full.
   */
  constructor(private readonly size: number, private readonly minFree: number) {
    this.slab = Buffer.allocUnsafeSlow(size);
  }

  /** The buffer for the next read (Node calls this after each read callback). */
  readonly next = (): Buffer => {
    if (this.slab.length - this.pos < this.minFree) {
      this.slab = Buffer.allocUnsafeSlow(this.size);
      this.pos = 0;
    }
    return this.slab.subarray(this.pos);
  };

  /** Marks n bytes of the last buffer handed out as used. */
  consumed(n: number): void {
    this.pos += n;
  }

  /**
   * Gives the last n consumed bytes back, so the next read lands on them again. Only for a
   * read whose bytes nothing refers to any more (all of it was skipped, see backend-conn.ts):
   * then a stream that is only read past allocates nothing.
   */
  rewind(n: number): void {
    this.pos -= n;
  }
}
