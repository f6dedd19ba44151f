// A small leveled logger for the dashboard (codis log levels, settable through the loglevel route).

export type LogLevel = "DEBUG" | "INFO" | "WARN" | "ERROR" | "NONE";

const RANK: Record<LogLevel, number> = { DEBUG: 0, INFO: 1, WARN: 2, ERROR: 3, NONE: 4 };

/** Parses codis's level names (any case; WARNING = WARN); undefined when unknown. */
export function parseLogLevel(text: string): LogLevel | undefined {
  const t = text.toUpperCase();
  if (t === "WARNING") return "WARN";
  return t in RANK ? (t as LogLevel) : undefined;
}

export class Logger {
  private rank: number;

  constructor(level: LogLevel = "INFO", private readonly sink: (line: string) => void = (l) => process.stderr.write(l + "\n")) {
    this.rank = RANK[level];
  }

  setLevel(level: LogLevel): void {
    this.rank = RANK[level];
  }

  debug(msg: string): void {
    if (this.rank <= 0) this.write("DEBUG", msg);
  }
  info(msg: string): void {
    if (this.rank <= 1) this.write("INFO", msg);
  }
  warn(msg: string): void {
    if (this.rank <= 2) this.write("WARN", msg);
  }
  error(msg: string): void {
    if (this.rank <= 3) this.write("ERROR", msg);
  }

  private write(level: string, msg: string): void {
    this.sink(`${new Date().toISOString()} [${level}] ${msg}`);
  }
}

/** A logger that drops everything (tests). */
export const silentLogger = new Logger("NONE");

/** The message of anything thrown. */
export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
