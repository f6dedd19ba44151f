// Writes to a socket's libuv handle directly, below Node's Writable stream.
//
// socket.write() costs, per call, the Writable bookkeeping, a new WriteWrap object made from a
// C++ template, and a process.nextTick to report the write done; that is several thousand
// instructions, paid twice per proxied request, next to a write system call that costs about
// as much. Here one request object is reused for every write the kernel takes at once (the
// usual case: libuv's uv_try_write wrote everything, and the object was never bound to a
// pending write), and only a write that must wait gets an object of its own, kept until libuv
// reports it done. libuv keeps queued writes in order, so nothing else is needed for order.
//
// This uses process.binding("stream_wrap") (WriteWrap and the shared write state), which Node
// marks as internal. When it is not there, or does not look as expected, every write goes
// through socket.write() instead, with the same accounting: the proxy then works unchanged,
// only slower (measured: README, "Performance").
//
// The writer owns the socket's output: nothing else may call socket.write() on it (end() and
// destroy() are fine: a shutdown waits for libuv's queued writes).
import type net from "node:net";

interface WriteReq {
  handle: unknown;
  oncomplete: (this: WriteReq, status: number) => void;
  async: boolean;
  bytes: number;
  buffer: Buffer | null;
  writer: SocketWriter | null;
}

interface StreamHandle {
  writeBuffer(req: WriteReq, data: Buffer): number;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

function loadBinding(): StreamWrapBinding | null {
  if (process.env.SLOTWAY_SOCKET_WRITE === "stream") return null;
  try {
    const b = (process as unknown as { binding(name: string): Partial<StreamWrapBinding> }).binding("stream_wrap");
    if (typeof b.WriteWrap === "function" && b.streamBaseState instanceof Int32Array && typeof b.kLastWriteWasAsync === "number") {
      return b as StreamWrapBinding;
    }
  } catch {
    // not available in this Node: socket.write() it is
  }
  return null;
}

const binding = loadBinding();
/** Whether writes bypass Node's Writable (false: the socket.write() fallback is in use). */
export const DIRECT_WRITES = binding !== null;

function onComplete(this: WriteReq, status: number): void {
  const w = this.writer;
  this.writer = null;
  this.buffer = null;
  if (w !== null) w.completed(this.bytes, status);
}

export class SocketWriter {
  /** Bytes handed to libuv that the kernel has not taken yet. */
  pending = 0;
  /** Bytes handed over in all. */
  sent = 0;
  private spare: WriteReq | null = null;
  private readonly direct: boolean;

  /**
   * onDrain runs when pending comes back to 0 after a write had to wait. direct = false forces
   * the socket.write() path (tests cover both).
   */
  constructor(private readonly socket: net.Socket, private readonly onDrain: () => void, direct = DIRECT_WRITES) {
    this.direct = direct && binding !== null;
    if (!this.direct) socket.on("drain", () => this.onStreamDrain());
  }

  /** Bytes the kernel has taken (moves while the peer reads). */
  get taken(): number {
    return this.sent - this.pending;
  }

  /** Queues buf for writing; false when the socket is gone (it is being destroyed). */
  write(buf: Buffer): boolean {
    const sock = this.socket;
    if (!this.direct || binding === null) {
      if (sock.destroyed) return false;
      sock.write(buf);
      this.sent += buf.length;
      this.pending = sock.writableLength;
      return true;
    }
    const h = (sock as unknown as { _handle: StreamHandle | null })._handle;
    if (h === null || sock.destroyed) return false;
    let req = this.spare;
    if (req === null) {
      req = new binding.WriteWrap();
      req.handle = h;
      req.oncomplete = onComplete;
      req.async = false;
      req.bytes = 0;
      req.buffer = null;
      req.writer = null;
    }
    const err = h.writeBuffer(req, buf);
    if (err !== 0) {
      // EPIPE, ECONNRESET...: the peer is gone; the socket's close event does the rest.
      this.spare = req;
      sock.destroy();
      return false;
    }
    this.sent += buf.length;
    if (binding.streamBaseState[binding.kLastWriteWasAsync] === 0) {
      this.spare = req; // never bound to a pending write: reusable
      return true;
    }
    // libuv holds the rest of buf until the kernel takes it: keep buf alive until then.
    req.async = true;
    req.bytes = buf.length;
    req.buffer = buf;
    req.writer = this;
    this.pending += buf.length;
    this.spare = null;
    return true;
  }

  /** A write that had to wait is done (status < 0: it failed, the socket is finished). */
  completed(bytes: number, status: number): void {
    this.pending -= bytes;
    if (status < 0) {
      this.socket.destroy();
      return;
    }
    if (this.pending === 0) this.onDrain();
  }

  private onStreamDrain(): void {
    this.pending = this.socket.writableLength;
    if (this.pending === 0) this.onDrain();
  }
}
