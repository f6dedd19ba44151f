// Sample invocations of every command, built from Redis 7's COMMAND DOCS argument lists:
// required arguments, plus every optional argument that names a key (so every key spec is
// exercised), "multiple" arguments twice, and numkeys counts that match. Keys are named
// k0, k1, ... so their positions can be found in COMMAND GETKEYS answers.
import type { Decoded } from "../../src/core/resp-decoder.js";

export interface ArgDoc {
  name: string;
  type: string;
  token?: string;
  flags: string[];
  args: ArgDoc[];
}

/** A RESP2 flattened map as an object. */
function asMap(v: Decoded): Record<string, Decoded> {
  const out: Record<string, Decoded> = {};
  if (!Array.isArray(v)) return out;
  for (let i = 0; i + 1 < v.length; i += 2) out[String(v[i])] = v[i + 1]!;
  return out;
}

export function parseArgs(v: Decoded): ArgDoc[] {
  if (!Array.isArray(v)) return [];
  return v.map((a) => {
    const m = asMap(a);
    return {
      name: String(m.name),
      type: String(m.type),
      token: m.token === undefined ? undefined : String(m.token),
      flags: Array.isArray(m.flags) ? m.flags.map(String) : [],
      args: parseArgs(m.arguments ?? []),
    };
  });
}

/** COMMAND DOCS reply → name ("get", "object|encoding") → argument docs. */
export function parseDocs(reply: Decoded): Map<string, ArgDoc[]> {
  const out = new Map<string, ArgDoc[]>();
  const top = asMap(reply);
  for (const [name, doc] of Object.entries(top)) {
    const d = asMap(doc);
    out.set(name.toLowerCase(), parseArgs(d.arguments ?? []));
    const subs = asMap(d.subcommands ?? []);
    for (const [sub, sdoc] of Object.entries(subs)) out.set(sub.toLowerCase(), parseArgs(asMap(sdoc).arguments ?? []));
  }
  return out;
}

function hasKey(a: ArgDoc): boolean {
  return a.type === "key" || a.args.some(hasKey);
}

/** Builds the argument list (without the command name) for docs. */
export function sampleArgs(docs: ArgDoc[]): string[] {
  let k = 0;
  const out: string[] = [];
  // A "multiple" argument with a token repeats the token only when Redis says so.
  const emit = (a: ArgDoc, times = 1): void => {
    const repeatToken = a.flags.includes("multiple_token");
    for (let t = 0; t < times; t++) {
      if (a.token !== undefined && (t === 0 || repeatToken)) out.push(a.token);
      value(a);
    }
  };
  const value = (a: ArgDoc): void => {
    switch (a.type) {
      case "key":
        out.push(`k${k++}`);
        return;
      case "integer":
        out.push(/numkeys|count/i.test(a.name) ? "2" : "1");
        return;
      case "double":
      case "unix-time":
        out.push("1");
        return;
      case "pattern":
        out.push("*");
        return;
      case "pure-token":
        return;
      case "oneof": {
        const pick = a.args.find(hasKey) ?? a.args[0];
        if (pick) emit(pick);
        return;
      }
      case "block":
        for (const b of a.args) if (!b.flags.includes("optional") || hasKey(b)) emit(b);
        return;
      default:
        out.push(a.name === "id" ? "0-1" : "v");
    }
  };
  for (const a of docs) {
    if (a.flags.includes("optional") && !hasKey(a)) continue;
    emit(a, a.flags.includes("multiple") ? 2 : 1);
  }
  return out;
}
