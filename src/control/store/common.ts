// Pieces every networked store (etcd v3, etcd v2, ZooKeeper) needs alike.
import type { Ephemeral } from "./store.js";

/** Runs one store call under a deadline: rejects with "timed out after N ms" when it passes. */
export async function withDeadline<T>(ms: number, run: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([run(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The life of one ephemeral node as a store keeps it: `lost` resolves once, with the first
 * reason given to end() (the node vanished, its lease or session could not be kept, or it was
 * removed), and onEnd (the store's keep-alive clean-up) runs then, once.
 */
export class EphemeralLife {
  readonly lost: Promise<Error>;
  /** Set by the store once it has something to stop (a timer, a watcher). */
  onEnd: () => void = () => {};
  private lose!: (why: Error) => void;
  private done = false;

  constructor() {
    this.lost = new Promise<Error>((resolve) => { this.lose = resolve; });
  }

  get ended(): boolean {
    return this.done;
  }

  /** Ends the node's life (first call wins). */
  readonly end = (why: Error): void => {
    if (this.done) return;
    this.done = true;
    this.onEnd();
    this.lose(why);
  };

  /** The handle given to the store's caller; remove() ends the life, then deletes the node. */
  handle(remove: () => Promise<void>): Ephemeral {
    return {
      lost: this.lost,
      remove: async () => {
        this.end(new Error("removed"));
        await remove();
      },
    };
  }
}

/** An unknown thrown value as an Error. */
export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** The folder holding a key ("/" for a top-level key). */
export function parentOf(key: string): string {
  const i = key.lastIndexOf("/");
  return i <= 0 ? "/" : key.slice(0, i);
}
