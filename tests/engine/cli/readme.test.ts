/**
 * The CLI is documented twice, in `whetstone help` and in README's CLI table: every command the
 * dispatcher handles must be in the help, and every command in the help must have a README row.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../../engine/paths";
import { COMMANDS } from "../../../engine/cli/table";
import { HANG_MS } from "../../helpers/limits";

const help = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), "help"], { encoding: "utf8", timeout: HANG_MS }).stdout;
const readme = readFileSync(join(PROJECT_ROOT, "README.md"), "utf8");
const cliSection = readme.slice(readme.indexOf("## The CLI"), readme.indexOf("\n## ", readme.indexOf("## The CLI") + 5));
const dispatched = [...new Set(COMMANDS.map((c) => c.name.split(" ")[0]!))];

/** `whetstone models pull` → "models pull"; a subcommand only where the help lists one. */
const helpCommands = [...help.matchAll(/^ {2}whetstone ([a-z-]+)(?: ([a-z]+)\b(?![A-Z]))?/gm)].map((m) => (m[2] && /^[a-z]+$/.test(m[2]) ? `${m[1]} ${m[2]}` : m[1]!));

describe("CLI documentation", () => {
  it("`whetstone help` lists every command the CLI dispatches", () => {
    expect(dispatched.length).toBeGreaterThan(10);
    const listed = new Set(helpCommands.map((c) => c.split(" ")[0]));
    expect(dispatched.filter((c) => c !== "help" && !listed.has(c))).toEqual([]);
  });

  it("README's CLI table has a row for every command in the help", () => {
    expect(helpCommands.length).toBeGreaterThan(10);
    const rows = cliSection.split("\n").filter((l) => l.startsWith("| `whetstone "));
    const missing = helpCommands.filter((c) => !rows.some((r) => r.includes(`\`whetstone ${c}`) || r.includes(`/ \`${c.split(" ").at(-1)}\``)));
    expect(missing).toEqual([]);
  });
});
