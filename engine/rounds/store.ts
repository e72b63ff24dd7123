/**
 * Rounds on disk: <home>/rounds/<id>/rounds.json (the whole state, written atomically after every
 * change), round-<r>.jsonl (each round's synthesized data) and rounds.md (the report). Each round's
 * training is an ordinary run in <home>/runs. A loop whose driving process died reads as
 * `interrupted`, and resumes.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { isAlive } from "../runs/store";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic";
import { WhetstoneError } from "../util/errors";
import { RoundsStatusSchema, type RoundsStatus } from "./schema";

export class RoundsStore {
  readonly dir: string;

  constructor(home: string) {
    this.dir = join(home, "rounds");
  }

  folder(id: string): string {
    return join(this.dir, id);
  }

  dataFile(id: string, round: number): string {
    return join(this.folder(id), `round-${round}.jsonl`);
  }

  newId(name: string): string {
    const d = new Date();
    const p = (n: number) => String(n).padStart(2, "0");
    return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}-${name}-${randomBytes(2).toString("hex")}`;
  }

  save(status: RoundsStatus): RoundsStatus {
    const next = { ...status, updated_at: new Date().toISOString() };
    writeJsonAtomic(join(this.folder(status.id), "rounds.json"), next);
    return next;
  }

  saveReport(id: string, markdown: string): string {
    const path = join(this.folder(id), "rounds.md");
    writeFileAtomic(path, markdown);
    return path;
  }

  /** A loop by id, its unique prefix, or its name (the newest with that name). */
  resolve(ref: string): string {
    const ids = this.ids();
    if (ids.includes(ref)) return ref;
    const matches = ids.filter((id) => id.startsWith(ref) || id.replace(/^\d{8}-\d{6}-/, "").replace(/-[0-9a-f]{4}$/, "") === ref);
    if (matches.length >= 1 && (matches.length === 1 || matches.every((m) => !m.startsWith(ref)))) return matches.sort().at(-1)!;
    throw new WhetstoneError({
      code: matches.length > 1 ? "ROUNDS_AMBIGUOUS" : "ROUNDS_NOT_FOUND",
      message: matches.length > 1 ? `'${ref}' matches ${matches.length} round loops: ${matches.slice(0, 5).join(", ")}` : `No rounds '${ref}' in ${this.dir}.`,
      hint: matches.length > 1 ? "Give more of the id." : "`whetstone rounds --list` lists them.",
    });
  }

  get(id: string): RoundsStatus {
    const path = join(this.folder(id), "rounds.json");
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, "utf8"));
    } catch (e) {
      throw new WhetstoneError({ code: "ROUNDS_NOT_FOUND", message: `Cannot read ${path}: ${(e as Error).message}`, hint: "`whetstone rounds --list` lists them." });
    }
    const status = RoundsStatusSchema.parse(raw);
    // Its driver died (killed, the machine restarted): the state on disk still says running.
    if (status.state === "running" && status.owner_pid !== process.pid && (status.owner_pid === null || !isAlive(status.owner_pid))) {
      return { ...status, state: "interrupted", owner_pid: null };
    }
    return status;
  }

  ids(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir).filter((id) => existsSync(join(this.dir, id, "rounds.json"))).sort();
  }

  list(): RoundsStatus[] {
    return this.ids().flatMap((id) => {
      try {
        return [this.get(id)];
      } catch {
        return [];
      }
    });
  }
}
