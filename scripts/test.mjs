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
 * typecheck and pytest run in the background while vitest runs (each is one process on one core,
 * and vitest's last files leave a core idle); their output is held and printed after vitest's. e2e
 * (two files at a time: each drives a browser against a training engine, and mostly waits) starts
 * when the first of vitest and pytest is done, beside the rest of the other, and its output is
 * printed last.
 *
 * `npm test -- --only vitest|pytest|typecheck|e2e` runs one suite in the foreground; extra args after
 * `--` go to it.
 *
 * `npm test -- --cpu` also says where the machine's CPU time went, per test file (Linux): the test
 * process's own, its finished children's (CLIs, spawned Python) and its forked workers' (logged by the
 * fork server), beside the whole machine's from /proc/stat. The suite is CPU-bound on a small machine, so
 * this, not wall time, says which file to make cheaper.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const VENV_PY = process.platform === "win32" ? join(ROOT, "engine/worker/.venv/Scripts/python.exe") : join(ROOT, "engine/worker/.venv/bin/python");
const cpuReport = process.argv.includes("--cpu");
const argv = process.argv.slice(2).filter((a) => a !== "--cpu");
const onlyAt = argv.indexOf("--only");
const only = onlyAt >= 0 ? argv[onlyAt + 1] : undefined;
const passThrough = onlyAt >= 0 ? argv.filter((_, i) => i !== onlyAt && i !== onlyAt + 1) : argv;
const out = mkdtempSync(join(tmpdir(), "whetstone-test-"));
const results = [];
const cpuLog = join(out, "cpu.jsonl");
const machineAtStart = cpuReport ? machineCpu() : null;
if (cpuReport) process.env.WHETSTONE_CPU_LOG = cpuLog; // the suites below inherit it

async function suite(name, fn) {
  if (only && only !== name) return;
  const t = Date.now();
  console.log(`\n=== ${name} ===`);
  const r = await fn();
  r.seconds = (Date.now() - t) / 1000;
  r.name = name;
  results.push(r);
}

/**
 * `cmd args` as a suite: in the foreground with `--only`, else started now in the background with its
 * output held. Returns a function that waits for it, prints what it held and returns { status, seconds }.
 */
function command(name, cmd, args, cwd) {
  if (only && only !== name) return null;
  const t = Date.now();
  if (only) {
    const r = spawnSync(cmd, args, { cwd, stdio: "inherit" });
    const done = { status: r.status, seconds: (Date.now() - t) / 1000 };
    return async () => done;
  }
  // Into a file: held until vitest's output is done, then printed whole.
  const log = join(out, `${name}.log`);
  const fd = openSync(log, "w");
  const child = spawn(cmd, args, { cwd, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const exited = new Promise((resolve) => {
    child.on("error", (e) => resolve({ status: null, error: e }));
    child.on("exit", (status) => resolve({ status, seconds: (Date.now() - t) / 1000 }));
  });
  const wait = async () => {
    const r = await exited;
    process.stdout.write(readFileSync(log));
    if (r.error) console.log(String(r.error));
    return { status: r.status, seconds: r.seconds ?? (Date.now() - t) / 1000 };
  };
  wait.exited = exited;
  return wait;
}

/** Records a suite whose command already ran (see command()). */
async function finish(name, wait, count) {
  if (!wait) return;
  console.log(`\n=== ${name} ===`);
  const r = await wait();
  results.push({ ...count(r.status), seconds: r.seconds, name });
}

const typecheck = command("typecheck", process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json", "--noEmit"], ROOT);
const pytestXml = join(out, "pytest.xml");
const pytest = existsSync(VENV_PY)
  ? command("pytest", VENV_PY, ["-m", "pytest", "-q", "-p", "no:cacheprovider", `--junitxml=${pytestXml}`, ...(only ? passThrough : [])], join(ROOT, "engine/worker"))
  : null;
await finish("typecheck", only === "typecheck" ? typecheck : null, (status) => (status === 0 ? { passed: 1, failed: 0, skipped: 0 } : { passed: 0, failed: 1, skipped: 0 }));

/** One vitest run with a JSON report, counted. Spawned asynchronously: the background suites' exits are timed meanwhile. */
async function vitest(name, configArgs, { held = false } = {}) {
  const json = join(out, `${name}.json`);
  // held: its output goes to a file (out/NAME.log) that the caller prints when the suites before it are printed.
  const log = held ? openSync(join(out, `${name}.log`), "w") : null;
  const child = spawn(process.execPath, [join(ROOT, "node_modules/vitest/vitest.mjs"), "run", ...configArgs, "--reporter=default", "--reporter=json", `--outputFile.json=${json}`, ...(only ? passThrough : [])], {
    cwd: ROOT,
    stdio: held ? ["ignore", log, log] : "inherit",
  });
  if (log !== null) closeSync(log);
  const status = await new Promise((resolve) => {
    child.on("error", () => resolve(null));
    child.on("exit", (code) => resolve(code));
  });

  if (!existsSync(json)) return { passed: 0, failed: 1, skipped: 0, note: `vitest produced no report (exit ${status})` };
  const rep = JSON.parse(readFileSync(json, "utf8"));
  // A file that failed outside its tests (an import error, a failing beforeAll) counts once; its tests
  // show as skipped, so "no failed assertion" is the mark, not "no assertion at all".
  const failedSuites = (rep.testResults ?? []).filter((s) => s.status === "failed" && !(s.assertionResults ?? []).some((a) => a.status === "failed")).length;
  const failed = rep.numFailedTests + failedSuites;
  // vitest failing with no failed test: an unhandled error, e.g. a test process that crashed (its
  // file's tests then neither pass nor fail). One failure, so the summary never reads green.
  if (status !== 0 && failed === 0) return { passed: rep.numPassedTests, failed: 1, skipped: rep.numPendingTests + (rep.numTodoTests ?? 0), note: `vitest exited ${status} with ${rep.numTotalTests - rep.numPassedTests - rep.numPendingTests} test(s) not run: see "Unhandled Errors" above` };
  return { passed: rep.numPassedTests, failed, skipped: rep.numPendingTests + (rep.numTodoTests ?? 0) };
}

const vitestDone = suite("vitest", () => vitest("vitest", []));

// e2e starts as soon as vitest or pytest is done, beside what is left of the other, its output held
// until the others are printed: started after vitest alone, its journeys (a browser waiting on a training
// engine) left a core idle for minutes.
if (!only) await Promise.race([vitestDone, pytest?.exited ?? vitestDone]);
const e2eStarted = Date.now();
const e2e = !only || only === "e2e" ? vitest("e2e", ["--config", "tests/e2e/vitest.config.ts"], { held: !only }).then((r) => ({ ...r, seconds: (Date.now() - e2eStarted) / 1000 })) : null;
await vitestDone;

await finish("typecheck", only ? null : typecheck, (status) => (status === 0 ? { passed: 1, failed: 0, skipped: 0 } : { passed: 0, failed: 1, skipped: 0 }));

if (!existsSync(VENV_PY) && (!only || only === "pytest")) results.push({ name: "pytest", passed: 0, failed: 1, skipped: 0, seconds: 0, note: "no worker venv: run `npm install`" });
await finish("pytest", pytest, (status) => {
  if (status === 5) return { passed: 0, failed: 0, skipped: 0, note: "no tests collected" };
  if (!existsSync(pytestXml)) return { passed: 0, failed: 1, skipped: 0, note: `pytest produced no report (exit ${status})` };
  const text = readFileSync(pytestXml, "utf8");
  const attr = (name) => Number(new RegExp(`<testsuite[^>]*\\s${name}="(\\d+)"`).exec(text)?.[1] ?? 0);
  const total = attr("tests");
  const failed = attr("failures") + attr("errors");
  const skipped = attr("skipped");
  return { passed: total - failed - skipped, failed: failed + (status !== 0 && failed === 0 ? 1 : 0), skipped };
});

if (e2e) console.log("\n=== e2e ===");
if (e2e) results.push(await (async () => {
  const r = await e2e;
  if (!only) process.stdout.write(readFileSync(join(out, "e2e.log")));
  const chromium = spawnSync("sh", ["-c", "command -v chromium || command -v chromium-browser"], { encoding: "utf8" }).stdout.trim();
  return r.skipped && !chromium ? { ...r, note: "chromium not installed: `sudo apt-get install -y chromium`" } : r;
})().then((r) => ({ ...r, name: "e2e" })));

if (cpuReport) printCpu();
rmSync(out, { recursive: true, force: true });
const sum = (k) => results.reduce((a, r) => a + r[k], 0);
console.log("\n=== summary ===");
for (const r of results) {
  console.log(`${r.name.padEnd(10)} ${String(r.passed).padStart(4)} passed ${String(r.failed).padStart(3)} failed ${String(r.skipped).padStart(3)} skipped  ${r.seconds.toFixed(0)}s${r.note ? `  (${r.note})` : ""}`);
}
const skipped = sum("skipped");
console.log(`${sum("passed")} passed, ${sum("failed")} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(sum("failed") > 0 ? 1 : 0);

/** The machine's busy and idle CPU seconds since boot (/proc/stat's first line), or null off Linux. */
function machineCpu() {
  if (!existsSync("/proc/stat")) return null;
  const ticks = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = ticks[3] + ticks[4]; // idle, iowait
  return { busy: (ticks.reduce((a, b) => a + b, 0) - idle) / 100, idle: idle / 100 };
}

/** `--cpu`: CPU seconds per test file, heaviest first, from the rows the suites logged (tests/helpers/cpu-log.ts, conftest.py, the fork server). */
function printCpu() {
  const files = new Map();
  const rows = existsSync(cpuLog) ? readFileSync(cpuLog, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
  for (const row of rows) {
    const name = row.file.endsWith(".py") && !row.file.startsWith("engine/") ? `engine/worker/${row.file}` : row.file || "(no test file)";
    const f = files.get(name) ?? { own: 0, children: 0, forks: 0, workers: 0 };
    f.own += row.node ?? row.python ?? 0;
    f.children += row.children ?? 0;
    if (row.forks !== undefined) (f.forks += row.forks), (f.workers += 1);
    files.set(name, f);
  }
  const total = (f) => f.own + f.children + f.forks;
  const sorted = [...files.entries()].sort((a, b) => total(b[1]) - total(a[1]));
  const sum = (k) => sorted.reduce((a, [, f]) => a + f[k], 0);
  const s = (x) => x.toFixed(1).padStart(6);
  console.log("\n=== CPU seconds per test file (test process, its children, its forked workers) ===");
  for (const [name, f] of sorted.slice(0, Number(process.env.WHETSTONE_CPU_TOP ?? 30))) console.log(`${s(total(f))}  ${s(f.own)} ${s(f.children)} ${s(f.forks)} (${String(f.workers).padStart(3)})  ${name}`);
  const machine = machineAtStart && machineCpu();
  const attributed = sum("own") + sum("children") + sum("forks");
  console.log(`${s(attributed)}  ${s(sum("own"))} ${s(sum("children"))} ${s(sum("forks"))} (${String(sum("workers")).padStart(3)})  all ${files.size} files`);
  if (machine) console.log(`machine: ${(machine.busy - machineAtStart.busy).toFixed(0)} CPU-s busy, ${(machine.idle - machineAtStart.idle).toFixed(0)} idle; the rest is imports, collection, tsc, fork servers' preloads and anything else running`);
}
