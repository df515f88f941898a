/**
 * Persisted input history, one JSON line per executed cell, shared by all kernels of a user
 * (like IPython's history database). Each kernel process is a new session number.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

interface Entry {
  session: number;
  line: number;
  source: string;
}

export type HistoryTuple = [session: number, line: number, input: string];

export function defaultHistoryFile(): string {
  const dataDir =
    process.env.JUPYTER_DATA_DIR ?? path.join(os.homedir(), ".local", "share", "jupyter");
  return path.join(dataDir, "stagelab", "history.jsonl");
}

export class History {
  readonly session: number;
  private readonly entries: Entry[] = [];

  constructor(private readonly file: string) {
    try {
      for (const line of fs.readFileSync(file, "utf8").split("\n")) {
        if (!line.trim()) continue;
        try {
          const e = JSON.parse(line) as Entry;
          if (
            typeof e.session === "number" &&
            typeof e.line === "number" &&
            typeof e.source === "string"
          )
            this.entries.push(e);
        } catch {
          /* a torn last line from a killed kernel: skip it */
        }
      }
    } catch {
      /* no history yet */
    }
    this.session = this.entries.reduce((m, e) => Math.max(m, e.session), 0) + 1;
  }

  add(line: number, source: string): void {
    const e = { session: this.session, line, source };
    this.entries.push(e);
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.appendFileSync(this.file, JSON.stringify(e) + "\n");
    } catch {
      /* history is a convenience: never fail a cell over it */
    }
  }

  tail(n: number): HistoryTuple[] {
    return this.entries.slice(-n).map(tuple);
  }

  /** session 0 = this one, negative = counting back from this one (IPython's convention). */
  range(session: number, start: number, stop: number): HistoryTuple[] {
    const s = session <= 0 ? this.session + session : session;
    return this.entries
      .filter((e) => e.session === s && e.line >= start && (stop <= 0 || e.line < stop))
      .map(tuple);
  }

  /** Glob search (`*`, `?`) over inputs, newest last; `unique` drops repeated sources. */
  search(pattern: string, n: number | undefined, unique: boolean): HistoryTuple[] {
    const re = new RegExp(
      "^" +
        pattern
          .replace(/[.+^${}()|[\]\\]/g, "\\$&")
          .replace(/\*/g, "[\\s\\S]*")
          .replace(/\?/g, "[\\s\\S]") +
        "$",
    );
    let hits = this.entries.filter((e) => re.test(e.source));
    if (unique) {
      const seen = new Set<string>();
      hits = hits
        .reverse()
        .filter((e) => (seen.has(e.source) ? false : (seen.add(e.source), true)))
        .reverse();
    }
    return (n ? hits.slice(-n) : hits).map(tuple);
  }
}

const tuple = (e: Entry): HistoryTuple => [e.session, e.line, e.source];
