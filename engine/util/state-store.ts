/**
 * A folder of long jobs that drive several runs (sweeps, round loops): <home>/<folder>/<id>/<file>
 * holds each one's whole state, written atomically after every change, with its report beside it.
 * One whose driving process died (killed, the machine restarted) still says it is active on disk: it
 * reads as `interrupted`, and resumes.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { isAlive, newRunId } from "../runs/store";
import { writeFileAtomic, writeJsonAtomic } from "./atomic";
import { WhetstoneError } from "./errors";

/** A new job's header: named, driven by this process from now on. */
export function newJobHeader(store: { newId(name: string): string }, input: { name: string; raw: Record<string, unknown>; baseDir: string; configPath: string | null }) {
  const now = new Date().toISOString();
  return {
    id: store.newId(input.name),
    name: input.name,
    state: "running" as const,
    created_at: now,
    updated_at: now,
    finished_at: null,
    owner_pid: process.pid,
    base_config: input.raw,
    base_dir: input.baseDir,
    config_path: input.configPath,
  };
}

interface Stored {
  id: string;
  state: string;
  owner_pid: number | null;
  updated_at: string;
}

export interface StateStoreSpec<T> {
  /** Under the home: "sweeps". */
  folder: string;
  /** The state file and the report in each one's folder: "sweep.json", "sweep.md". */
  file: string;
  report: string;
  schema: z.ZodType<T>;
  /** States in which a live process drives it. */
  active: readonly string[];
  /** In messages: "sweep". */
  noun: string;
  /** The error codes for a reference that names none, or several. */
  notFound: string;
  ambiguous: string;
  /** Where the user finds them: "`whetstone sweeps` lists the sweeps." */
  listHint: string;
}

export class StateStore<T extends Stored> {
  readonly dir: string;

  constructor(
    home: string,
    private readonly spec: StateStoreSpec<T>,
  ) {
    this.dir = join(home, spec.folder);
  }

  folder(id: string): string {
    return join(this.dir, id);
  }

  newId(name: string): string {
    return newRunId(name);
  }

  save(status: T): T {
    const next = { ...status, updated_at: new Date().toISOString() };
    mkdirSync(this.folder(status.id), { recursive: true });
    writeJsonAtomic(join(this.folder(status.id), this.spec.file), next);
    return next;
  }

  saveReport(id: string, markdown: string): string {
    const path = join(this.folder(id), this.spec.report);
    writeFileAtomic(path, markdown);
    return path;
  }

  /** One by id, its unique prefix, or its name (the newest with that name). */
  resolve(ref: string): string {
    const ids = this.ids();
    if (ids.includes(ref)) return ref;
    const matches = ids.filter((id) => id.startsWith(ref) || id.replace(/^\d{8}-\d{6}-/, "").replace(/-[0-9a-f]{4}$/, "") === ref);
    if (matches.length >= 1 && (matches.length === 1 || matches.every((m) => !m.startsWith(ref)))) return matches.sort().at(-1)!;
    const { noun, notFound, ambiguous, listHint } = this.spec;
    throw new WhetstoneError({
      code: matches.length > 1 ? ambiguous : notFound,
      message: matches.length > 1 ? `'${ref}' matches ${matches.length} ${noun}s: ${matches.slice(0, 5).join(", ")}` : `No ${noun} '${ref}' in ${this.dir}.`,
      hint: matches.length > 1 ? "Give more of the id." : listHint,
    });
  }

  get(id: string): T {
    const path = join(this.folder(id), this.spec.file);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, "utf8"));
    } catch (e) {
      throw new WhetstoneError({ code: this.spec.notFound, message: `Cannot read ${path}: ${(e as Error).message}`, hint: this.spec.listHint });
    }
    const status = this.spec.schema.parse(raw);
    if (this.spec.active.includes(status.state) && status.owner_pid !== process.pid && (status.owner_pid === null || !isAlive(status.owner_pid))) {
      return { ...status, state: "interrupted", owner_pid: null };
    }
    return status;
  }

  ids(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir).filter((id) => existsSync(join(this.dir, id, this.spec.file))).sort();
  }

  list(): T[] {
    return this.ids().flatMap((id) => {
      try {
        return [this.get(id)];
      } catch {
        return [];
      }
    });
  }
}
