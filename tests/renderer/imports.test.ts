/** The renderer talks to the engine through engine/api/ only: the contract, its events and public.ts. */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../engine/paths";

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : /\.(ts|tsx)$/.test(name) ? [path] : [];
  });
}

describe("renderer imports", () => {
  it("reach the engine only through engine/api/", () => {
    const outside: string[] = [];
    for (const file of files(join(PROJECT_ROOT, "renderer", "src"))) {
      for (const m of readFileSync(file, "utf8").matchAll(/from\s+"((?:\.\.\/)+engine\/[^"]+)"/g)) {
        if (!/^(\.\.\/)+engine\/api\//.test(m[1]!)) outside.push(`${relative(PROJECT_ROOT, file)}: ${m[1]}`);
      }
    }
    expect(outside, "import these through engine/api/public.ts").toEqual([]);
  });
});
