/**
 * Sweeps on disk: <home>/sweeps/<id>/sweep.json (the whole state, written atomically after every
 * change) and, once judged, sweep.md beside it. Trials are ordinary runs in <home>/runs; the sweep
 * names them. A sweep whose driving process died while it ran reads as `interrupted`, and resumes.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { isAlive } from "../runs/store";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic";
import { WhetstoneError } from "../util/errors";
import { SweepStatusSchema, type SweepStatus } from "./schema";

const ACTIVE = ["running", "judging"];

export class SweepStore {
  readonly dir: string;

  constructor(home: string) {
    this.dir = join(home, "sweeps");
  }

  folder(id: string): string {
    return join(this.dir, id);
  }

  newId(name: string): string {
    const d = new Date();
    const p = (n: number) => String(n).padStart(2, "0");
    return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}-${name}-${randomBytes(2).toString("hex")}`;
  }

  save(status: SweepStatus): SweepStatus {
    const next = { ...status, updated_at: new Date().toISOString() };
    mkdirSync(this.folder(status.id), { recursive: true });
    writeJsonAtomic(join(this.folder(status.id), "sweep.json"), next);
    return next;
  }

  saveReport(id: string, markdown: string): string {
    const path = join(this.folder(id), "sweep.md");
    writeFileAtomic(path, markdown);
    return path;
  }

  /** A sweep by id, its unique prefix, or its name (the newest with that name). */
  resolve(ref: string): string {
    const ids = this.ids();
    if (ids.includes(ref)) return ref;
    const matches = ids.filter((id) => id.startsWith(ref) || id.replace(/^\d{8}-\d{6}-/, "").replace(/-[0-9a-f]{4}$/, "") === ref);
    if (matches.length >= 1 && (matches.length === 1 || matches.every((m) => !m.startsWith(ref)))) return matches.sort().at(-1)!;
    throw new WhetstoneError({
      code: matches.length > 1 ? "SWEEP_AMBIGUOUS" : "SWEEP_NOT_FOUND",
      message: matches.length > 1 ? `'${ref}' matches ${matches.length} sweeps: ${matches.slice(0, 5).join(", ")}` : `No sweep '${ref}' in ${this.dir}.`,
      hint: matches.length > 1 ? "Give more of the id." : "`whetstone sweeps` lists the sweeps.",
    });
  }

  get(id: string): SweepStatus {
    const path = join(this.folder(id), "sweep.json");
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, "utf8"));
    } catch (e) {
      throw new WhetstoneError({ code: "SWEEP_NOT_FOUND", message: `Cannot read ${path}: ${(e as Error).message}`, hint: "`whetstone sweeps` lists the sweeps." });
    }
    const status = SweepStatusSchema.parse(raw);
    // Its driver died (killed, the machine restarted): the state on disk still says running.
    if (ACTIVE.includes(status.state) && status.owner_pid !== process.pid && (status.owner_pid === null || !isAlive(status.owner_pid))) {
      return { ...status, state: "interrupted", owner_pid: null };
    }
    return status;
  }

  ids(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir).filter((id) => existsSync(join(this.dir, id, "sweep.json"))).sort();
  }

  list(): SweepStatus[] {
    return this.ids().flatMap((id) => {
      try {
        return [this.get(id)];
      } catch {
        return [];
      }
    });
  }
}
