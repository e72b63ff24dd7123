/**
 * Shards: the files of one folder whose names differ only in their numbers
 * (`train-00000-of-00003.parquet`, `part-1.jsonl.gz`, `part-2.jsonl.gz`) are pieces of one table,
 * so they must have one shape; a folder may otherwise mix files of different shapes of one kind
 * (an Alpaca CSV beside a chat JSONL). A numbered set (`-of-00003`) that lacks a piece trains on
 * less than the user thinks: a warning names the missing files.
 */
import { basename, dirname, relative } from "node:path";
import { makeIssue } from "./issues";
import { SCHEMA_FIELDS } from "./schema";
import type { DataIssue, SchemaName } from "./types";

const NUMBERED = /^(.*?)(\d+)-of-(\d+)(\..+)$/;

export function shardIssues(root: string, files: { path: string; schema: SchemaName | null }[]): DataIssue[] {
  const issues: DataIssue[] = [];
  const sets = new Map<string, { path: string; schema: SchemaName | null }[]>();
  for (const f of files) {
    const key = `${dirname(f.path)}\u0000${basename(f.path).replace(/\d+/g, "#")}`;
    sets.set(key, [...(sets.get(key) ?? []), f]);
  }
  const rel = (p: string) => relative(root, p) || p;
  for (const set of sets.values()) {
    const first = set.find((f) => f.schema !== null);
    const odd = first && set.find((f) => f.schema !== null && f.schema !== first.schema);
    if (first && odd) {
      const say = (f: { path: string; schema: SchemaName | null }) => `${rel(f.path)} is ${f.schema} (${SCHEMA_FIELDS[f.schema!]})`;
      issues.push(
        makeIssue("DATA_MIXED_SCHEMA", { file: root }, `shards of one set have different shapes: ${say(first)} but ${say(odd)}`, {
          hint: "Shards of one dataset share one shape: convert the odd shard to the others' fields, or move it out of the folder.",
        }),
      );
    }
    const m = NUMBERED.exec(basename(set[0]!.path));
    if (!m) continue;
    const [, stem, width, total, ext] = m as unknown as [string, string, string, string, string];
    const have = new Set(set.map((f) => Number(NUMBERED.exec(basename(f.path))?.[2])));
    const n = Number(total);
    if (n > 100_000) continue;
    const missing: string[] = [];
    for (let i = 0; i < n; i++) if (!have.has(i)) missing.push(`${stem}${String(i).padStart(width.length, "0")}-of-${total}${ext}`);
    if (missing.length) {
      const names = missing.slice(0, 5).join(", ") + (missing.length > 5 ? ` and ${missing.length - 5} more` : "");
      issues.push(makeIssue("DATA_SHARD_MISSING", { file: dirname(set[0]!.path) }, `${names} ${missing.length === 1 ? "is" : "are"} missing: ${n - missing.length} of ${n} shards are here`));
    }
  }
  return issues;
}
