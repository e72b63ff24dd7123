/** The UI builds, and nothing it imports from the engine pulls Node modules into the browser bundle. */
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildRenderer } from "../helpers/renderer-build";

describe("renderer build", () => {
  it("bundles without Node built-ins", () => {
    const out = mkdtempSync(join(tmpdir(), "renderer-"));
    const r = buildRenderer(out);
    expect(r.status, r.output).toBe(0);
    expect(r.output).not.toMatch(/externalized for browser compatibility/);
    expect(readdirSync(out)).toContain("index.html");
  });
});
