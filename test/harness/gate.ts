// A TCP relay with a gate, for faults between two real servers: connections to `addr` are
// relayed to the upstream server; while the gate is closed, bytes in both directions are held
// back (and delivered, in order, when it opens). Used to keep a codis-server's async batch "in
// flight" for as long as a test wants, with real servers on both ends.
import net from "node:net";

export interface Gate {
  port: number;
  /** "127.0.0.1:<port>" */
  addr: string;
  /** Holds every byte from now on (both directions) until open(). */
  close(): void;
  /** Delivers what was held and relays freely again. */
  open(): void;
  /** Connections relayed so far. */
  readonly accepted: number;
  stop(): Promise<void>;
}

export async function startGate(upstreamPort: number, upstreamHost = "127.0.0.1"): Promise<Gate> {
  let closed = false;
  let accepted = 0;
  const pipes: { held: [net.Socket, Buffer][]; sockets: net.Socket[] }[] = [];
  const server = net.createServer((down) => {
    accepted++;
    const up = net.connect({ port: upstreamPort, host: upstreamHost });
    const pipe = { held: [] as [net.Socket, Buffer][], sockets: [down, up] };
    pipes.push(pipe);
    const relay = (to: net.Socket) => (d: Buffer) => {
      if (closed) pipe.held.push([to, d]);
      else to.write(d);
    };
    down.on("data", relay(up));
    up.on("data", relay(down));
    const end = () => {
      down.destroy();
      up.destroy();
    };
    down.on("error", end);
    up.on("error", end);
    down.on("close", end);
    up.on("close", end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: 0, host: "127.0.0.1" }, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    addr: `127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    close() {
      closed = true;
    },
    open() {
      closed = false;
      for (const p of pipes) {
        for (const [to, d] of p.held) if (!to.destroyed) to.write(d);
        p.held = [];
      }
    },
    async stop() {
      for (const p of pipes) for (const s of p.sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
