/**
 * The README's config table is the reference people read: every field of the run config schema
 * must appear in it (a new field without a README row fails here). Nested blocks documented as one
 * row (`training.goldfish`, `preference.*`) cover their own fields.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { objectShape, RunConfigSchema } from "../../../engine/config/schema";
import { PROJECT_ROOT } from "../../../engine/paths";

const readme = readFileSync(join(PROJECT_ROOT, "README.md"), "utf8");
const section = readme.slice(readme.indexOf("## The config file"), readme.indexOf("\n## ", readme.indexOf("## The config file") + 5));
/** Every `code` span in the table's first column, e.g. `training.weight_decay`, `adam_beta1`. */
const documented = new Set(
  section
    .split("\n")
    .filter((l) => l.startsWith("| `"))
    .flatMap((l) => [...l.split("|")[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)),
);

function covered(path: string[]): boolean {
  const full = path.join(".");
  if (documented.has(full) || documented.has(path.at(-1)!)) return true;
  // A block documented as one row: `training.goldfish` or `preference.*`.
  for (let i = 1; i < path.length; i++) {
    const prefix = path.slice(0, i).join(".");
    if (documented.has(prefix) || documented.has(`${prefix}.*`)) return true;
  }
  return false;
}

function leaves(schema: unknown, path: string[] = []): string[][] {
  const shape = objectShape(schema);
  if (!shape || (path.length > 0 && covered(path))) return [path];
  return Object.entries(shape).flatMap(([k, v]) => leaves(v, [...path, k]));
}

describe("README config reference", () => {
  it("has a row for every config field", () => {
    const fields = leaves(RunConfigSchema);
    expect(fields.length).toBeGreaterThan(30);
    expect(fields.filter((p) => !covered(p)).map((p) => p.join("."))).toEqual([]);
  });
});
