#!/usr/bin/env node
/**
 * `npm test`: every test of the project, in one command, with one closing line
 * `N passed, N failed[, N skipped]` (the sum over the suites below).
 *
 *   typecheck   tsc --noEmit over engine, electron, renderer, tests (counted as one test)
 *   vitest      TypeScript tests (tests/**)
 *   pytest      the worker's tests (engine/worker/tests)
 *   e2e         the wizard in Debian's chromium against the engine in browser mode (tests/e2e)
 *
 * `npm test -- --only vitest|pytest|typecheck` runs one suite; extra args after `--` go to it.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const VENV_PY = process.platform === "win32" ? join(ROOT, "engine/worker/.venv/Scripts/python.exe") : join(ROOT, "engine/worker/.venv/bin/python");
const argv = process.argv.slice(2);
const onlyAt = argv.indexOf("--only");
const only = onlyAt >= 0 ? argv[onlyAt + 1] : undefined;
const passThrough = onlyAt >= 0 ? argv.filter((_, i) => i !== onlyAt && i !== onlyAt + 1) : argv;
const out = mkdtempSync(join(tmpdir(), "whetstone-test-"));
const results = [];

function suite(name, fn) {
  if (only && only !== name) return;
  const t = Date.now();
  console.log(`\n=== ${name} ===`);
  const r = fn();
  r.seconds = (Date.now() - t) / 1000;
  r.name = name;
  results.push(r);
}

suite("typecheck", () => {
  const r = spawnSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json", "--noEmit"], { cwd: ROOT, stdio: "inherit" });
  return r.status === 0 ? { passed: 1, failed: 0, skipped: 0 } : { passed: 0, failed: 1, skipped: 0 };
});

/** One vitest run with a JSON report, counted. */
function vitest(name, configArgs) {
  const json = join(out, `${name}.json`);
  const r = spawnSync(process.execPath, [join(ROOT, "node_modules/vitest/vitest.mjs"), "run", ...configArgs, "--reporter=default", "--reporter=json", `--outputFile.json=${json}`, ...(only ? passThrough : [])], {
    cwd: ROOT,
    stdio: "inherit",
  });
  if (!existsSync(json)) return { passed: 0, failed: 1, skipped: 0, note: `vitest produced no report (exit ${r.status})` };
  const rep = JSON.parse(readFileSync(json, "utf8"));
  // A file that failed outside its tests (an import error, a failing beforeAll) counts once; its tests
  // show as skipped, so "no failed assertion" is the mark, not "no assertion at all".
  const failedSuites = (rep.testResults ?? []).filter((s) => s.status === "failed" && !(s.assertionResults ?? []).some((a) => a.status === "failed")).length;
  return { passed: rep.numPassedTests, failed: rep.numFailedTests + failedSuites, skipped: rep.numPendingTests + (rep.numTodoTests ?? 0) };
}

suite("vitest", () => vitest("vitest", []));

suite("pytest", () => {
  if (!existsSync(VENV_PY)) return { passed: 0, failed: 1, skipped: 0, note: "no worker venv: run `npm install`" };
  const xml = join(out, "pytest.xml");
  const r = spawnSync(VENV_PY, ["-m", "pytest", "-q", "-p", "no:cacheprovider", `--junitxml=${xml}`, ...(only ? passThrough : [])], { cwd: join(ROOT, "engine/worker"), stdio: "inherit" });
  if (r.status === 5) return { passed: 0, failed: 0, skipped: 0, note: "no tests collected" };
  if (!existsSync(xml)) return { passed: 0, failed: 1, skipped: 0, note: `pytest produced no report (exit ${r.status})` };
  const text = readFileSync(xml, "utf8");
  const attr = (name) => Number(new RegExp(`<testsuite[^>]*\\s${name}="(\\d+)"`).exec(text)?.[1] ?? 0);
  const total = attr("tests");
  const failed = attr("failures") + attr("errors");
  const skipped = attr("skipped");
  return { passed: total - failed - skipped, failed: failed + (r.status !== 0 && failed === 0 ? 1 : 0), skipped };
});

suite("e2e", () => {
  const r = vitest("e2e", ["--config", "tests/e2e/vitest.config.ts"]);
  const chromium = spawnSync("sh", ["-c", "command -v chromium || command -v chromium-browser"], { encoding: "utf8" }).stdout.trim();
  return r.skipped && !chromium ? { ...r, note: "chromium not installed: `sudo apt-get install -y chromium`" } : r;
});

rmSync(out, { recursive: true, force: true });
const sum = (k) => results.reduce((a, r) => a + r[k], 0);
console.log("\n=== summary ===");
for (const r of results) {
  console.log(`${r.name.padEnd(10)} ${String(r.passed).padStart(4)} passed ${String(r.failed).padStart(3)} failed ${String(r.skipped).padStart(3)} skipped  ${r.seconds.toFixed(0)}s${r.note ? `  (${r.note})` : ""}`);
}
const skipped = sum("skipped");
console.log(`${sum("passed")} passed, ${sum("failed")} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(sum("failed") > 0 ? 1 : 0);
