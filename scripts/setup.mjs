#!/usr/bin/env node
/**
 * `npm install`'s second half (postinstall), also `npm run setup`: everything Node's own install
 * does not do. Idempotent: each step checks before it acts and says what it did.
 *
 *  1. The Electron binary: fetched when the network allows; otherwise the app runs in browser mode.
 *  2. The worker's Python virtual environment (engine/worker/.venv) from the pinned requirements,
 *     with the torch build that fits this machine (CUDA where an NVIDIA GPU is present, CPU-only
 *     elsewhere on Linux/Windows, the default wheel with MPS on macOS). A stamp file records what
 *     was installed; nothing is reinstalled while the stamp matches.
 *     lm-evaluation-harness (`whetstone bench`) goes in without its declared dependencies: its core
 *     ones are pinned in requirements.txt, the rest installed where the index has them (benchExtras);
 *     scikit-learn goes into .venv/bench-site, on sys.path for benchmark jobs only; lm-eval's index of
 *     its built-in tasks is built once into .venv/whetstone-cache (benchIndex).
 *  2b. Debian's chromium for the end-to-end tests (apt-get, as root / in CI only).
 *  3. The tiny fixture model that the examples and tests train (.cache/fixtures/tiny-llama).
 *  4. The compiled `whetstone` CLI (dist/cli/main.mjs, scripts/cli-bundle.mjs); bin/whetstone.mjs
 *     also rebuilds it whenever an engine source is newer.
 *
 * Environment: WHETSTONE_WORKER_DIR / WHETSTONE_VENV move the worker folder and the venv (a packaged
 * app's first launch: RESOURCES/worker and the user's data folder, see engine/util/layout.ts), and
 * WHETSTONE_SKIP_FIXTURE=1 skips step 3 there. WHETSTONE_TORCH=auto|cpu|cuda|rocm|default picks the torch build; WHETSTONE_BOOTSTRAP_PYTHON
 * the interpreter that creates the venv; WHETSTONE_SKIP_PYTHON=1 / WHETSTONE_SKIP_ELECTRON=1 skip
 * those steps. pip never waits on an unreachable index: --retries 0 --timeout 5.
 */
import { spawnSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const WORKER = process.env.WHETSTONE_WORKER_DIR || join(ROOT, "engine", "worker");
const VENV = process.env.WHETSTONE_VENV || join(WORKER, ".venv");
const VENV_PY = process.platform === "win32" ? join(VENV, "Scripts", "python.exe") : join(VENV, "bin", "python");
const STAMP = join(VENV, ".whetstone-stamp.json");
const TORCH_VERSION = "2.13.0";
const PIP_FLAGS = ["--retries", "0", "--timeout", "5", "--disable-pip-version-check", "--no-input"];
const FIXTURE = join(ROOT, ".cache", "fixtures", "tiny-llama");
// lm-evaluation-harness (`whetstone bench`), installed with --no-deps, and its optional packages (benchExtras).
const LM_EVAL = join(WORKER, "requirements-lm-eval.txt");
const BENCH_EXTRAS = join(WORKER, "requirements-bench-extras.txt");
// scikit-learn, for lm-eval's metrics only, in a folder that only the benchmark job puts on sys.path
// (transformers imports it at start whenever it can find it: 1.5-2 s of every worker's start).
const BENCH_SITE_REQS = join(WORKER, "requirements-bench-site.txt");
const BENCH_SITE = join(VENV, "bench-site");
const t0 = Date.now();

const say = (msg) => console.log(`[whetstone setup] ${msg}`);
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(0)}s`;

async function main() {
  await cliBundle();
  electronBinary();
  chromiumForE2e();
  if (process.env.WHETSTONE_SKIP_PYTHON === "1") {
    say("WHETSTONE_SKIP_PYTHON=1: not touching the Python environment.");
    return;
  }
  await pythonEnv();
  if (process.env.WHETSTONE_SKIP_FIXTURE !== "1") await fixture();
  say(`done in ${elapsed()}. Next: \`npm start\` (the app) or \`npm test\`.`);
}

async function cliBundle() {
  const { buildCliBundle, cliBundleFresh } = await import("./cli-bundle.mjs");
  if (cliBundleFresh()) return say("whetstone CLI: compiled bundle up to date.");
  const t = Date.now();
  await buildCliBundle();
  say(`whetstone CLI: compiled (dist/cli/main.mjs, ${Date.now() - t} ms).`);
}

function electronBinary() {
  const electronDir = join(ROOT, "node_modules", "electron");
  if (!existsSync(electronDir)) return;
  if (existsSync(join(electronDir, "path.txt")) && existsSync(join(electronDir, "dist"))) {
    say("Electron binary: present.");
    return;
  }
  if (process.env.WHETSTONE_SKIP_ELECTRON === "1" || process.env.CI) {
    say("Electron binary: skipped (CI or WHETSTONE_SKIP_ELECTRON=1). `npm start` serves the UI in a browser instead.");
    return;
  }
  say("Electron binary: downloading (its own install script is disabled in allowScripts so that offline installs pass)…");
  const r = spawnSync(process.execPath, [join(electronDir, "install.js")], { stdio: "pipe", timeout: 120_000, encoding: "utf8" });
  if (r.status === 0 && existsSync(join(electronDir, "path.txt"))) say("Electron binary: installed.");
  else {
    const why = (r.stderr || r.stdout || String(r.error ?? "")).trim().split("\n").pop();
    say(`Electron binary: could not be downloaded (${why || "no network"}). Carrying on: \`npm start\` serves the same UI on a loopback port; run \`npm run setup\` later to retry.`);
  }
}

/** The end-to-end tests drive Debian's chromium (never a downloaded browser): apt-get it as root / in CI. */
function chromiumForE2e() {
  const which = spawnSync("which", ["chromium"], { encoding: "utf8" });
  if (which.status === 0) return say(`chromium (e2e tests): present at ${which.stdout.trim()}.`);
  if (process.platform !== "linux" || process.env.WHETSTONE_SKIP_CHROMIUM === "1") return;
  const root = process.getuid?.() === 0;
  // Not root: only a password-less sudo will do (an install must never stop to ask for a password).
  const sudo = !root && spawnSync("sudo", ["-n", "true"], { stdio: "ignore" }).status === 0;
  if ((!root && !sudo) || !existsSync("/usr/bin/apt-get")) {
    return say("chromium (e2e tests): not installed; the e2e phase of `npm test` is skipped. Install it with `sudo apt-get install -y chromium`.");
  }
  say(`chromium (e2e tests): installing with ${sudo ? "sudo " : ""}apt-get…`);
  const apt = (args, timeout) =>
    spawnSync(sudo ? "sudo" : "apt-get", sudo ? ["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", ...args] : args, { stdio: "inherit", timeout, env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  const install = ["install", "-y", "--no-install-recommends", "chromium"];
  const r = apt(install, 600_000);
  if (r.status !== 0) apt(["update"], 300_000);
  const again = r.status === 0 ? r : apt(install, 600_000);
  say(again.status === 0 ? "chromium (e2e tests): installed." : "chromium (e2e tests): apt-get failed; the e2e phase of `npm test` fails in CI until it is installed.");
}

function findPython() {
  const candidates = [process.env.WHETSTONE_BOOTSTRAP_PYTHON, "python3.12", "python3.11", "python3.10", "python3", "python"].filter(Boolean);
  for (const cmd of candidates) {
    const r = spawnSync(cmd, ["-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"], { encoding: "utf8" });
    if (r.status !== 0) continue;
    const [maj, min] = r.stdout.trim().split(".").map(Number);
    if (maj === 3 && min >= 10 && min <= 13) return { cmd, version: r.stdout.trim() };
  }
  throw new Error(
    "No usable Python found (need 3.10 to 3.13 with the venv module). Install one (e.g. `apt install python3 python3-venv`, or python.org on macOS/Windows) and run `npm run setup`, or point WHETSTONE_BOOTSTRAP_PYTHON at it.",
  );
}

function hasNvidiaGpu() {
  const r = spawnSync("nvidia-smi", ["-L"], { encoding: "utf8", timeout: 10_000 });
  return r.status === 0 && /GPU \d+:/.test(r.stdout);
}

/** Which torch wheel fits this machine: a requirement and the index that serves it. */
function torchChoice(platform = process.platform, nvidia = hasNvidiaGpu(), wanted = process.env.WHETSTONE_TORCH ?? "auto") {
  const kind = wanted === "auto" ? (platform === "darwin" ? "default" : nvidia ? "cuda" : "cpu") : wanted;
  if (kind === "cpu") return { kind, spec: `torch==${TORCH_VERSION}+cpu`, index: "https://download.pytorch.org/whl/cpu" };
  if (kind === "cuda") {
    // PyPI's Linux wheel is the CUDA build; Windows needs PyTorch's CUDA index.
    return platform === "win32"
      ? { kind, spec: `torch==${TORCH_VERSION}`, index: "https://download.pytorch.org/whl/cu128" }
      : { kind, spec: `torch==${TORCH_VERSION}`, index: null };
  }
  if (kind === "default") return { kind, spec: `torch==${TORCH_VERSION}`, index: null };
  // AMD GPUs (Linux only): PyTorch's ROCm index.
  if (kind === "rocm") return { kind, spec: `torch==${TORCH_VERSION}`, index: "https://download.pytorch.org/whl/rocm6.4" };
  throw new Error(`WHETSTONE_TORCH=${wanted}: expected auto, cpu, cuda, rocm or default.`);
}

async function pythonEnv() {
  const reqs = ["requirements.txt", "requirements-dev.txt"].map((f) => join(WORKER, f));
  const torch = torchChoice();
  const fingerprint = createHash("sha256");
  for (const f of [...reqs, LM_EVAL, BENCH_EXTRAS, BENCH_SITE_REQS]) fingerprint.update(readFileSync(f));
  fingerprint.update(JSON.stringify(torch));
  const wanted = { requirements: fingerprint.digest("hex"), torch: torch.kind };

  if (existsSync(VENV_PY) && existsSync(STAMP)) {
    const probe = spawnSync(VENV_PY, ["-c", "import torch, transformers, peft"], { encoding: "utf8" });
    const stamp = JSON.parse(readFileSync(STAMP, "utf8"));
    if (probe.status === 0 && stamp.requirements === wanted.requirements) {
      say(`Python environment: up to date (${VENV}, torch ${torch.kind}).`);
      if (stamp.bench_missing?.length) await benchExtras(stamp, stamp.bench_missing, { eachAlone: false });
      benchIndex({ again: false });
      return;
    }
    say("Python environment: requirements changed or packages missing; updating.");
  }
  if (existsSync(VENV) && spawnSync(VENV_PY, ["-c", "pass"]).status !== 0) {
    say("Python environment: the existing venv is broken (moved or its Python removed); recreating it.");
    rmSync(VENV, { recursive: true, force: true });
  }
  if (!existsSync(VENV_PY)) {
    const py = findPython();
    say(`Python environment: creating ${VENV} with ${py.cmd} (Python ${py.version})…`);
    run(py.cmd, ["-m", "venv", VENV]);
  }
  say(`Python environment: installing torch (${torch.kind} build: ${torch.spec})… [1/2]`);
  await pip(["install", ...PIP_FLAGS, torch.spec, ...(torch.index ? ["--extra-index-url", torch.index] : [])]);
  say(`Python environment: installing the worker's pinned requirements… [2/2] (${elapsed()} so far)`);
  await pip(["install", ...PIP_FLAGS, ...reqs.flatMap((r) => ["-r", r])]);
  say("Python environment: installing lm-evaluation-harness (benchmarks) without its declared dependencies…");
  await pip(["install", ...PIP_FLAGS, "--no-deps", "-r", LM_EVAL]);
  say("Python environment: installing scikit-learn (benchmark metrics) into its own folder, off the workers' import path…");
  // A venv from before this split has it in site-packages, where every worker's transformers finds it.
  await pip(["uninstall", "-y", "scikit-learn"], { quiet: true });
  await pip(["install", ...PIP_FLAGS, "--no-deps", "--upgrade", "--target", BENCH_SITE, "-r", BENCH_SITE_REQS]);
  const stamp = { ...wanted, installed_at: new Date().toISOString() };
  await benchExtras(stamp, requirementLines(BENCH_EXTRAS), { eachAlone: true });
  benchIndex({ again: true });
  say(`Python environment: ready (${elapsed()}).`);
}

/**
 * The packages lm-eval declares that its scoring path does not import (evaluate, pytablewriter,
 * sqlitedict, rouge-score, word2number) and those some standard tasks need (IFEval: langdetect,
 * immutabledict, nltk). Best effort: where the package index lacks one (an offline mirror), setup
 * carries on, the stamp remembers it, the next setup tries again, and a benchmark that needs it says
 * which package is missing. The pinned runtime is a constraint, so nothing pinned ever moves.
 * `eachAlone`: after a failed try of all at once, try each alone (a fresh install, so that what the
 * index has gets in); a later setup's retry is one try of all, a few seconds when offline.
 */
async function benchExtras(stamp, wanted, { eachAlone }) {
  const install = (specs) => pip(["install", ...PIP_FLAGS, "-c", join(WORKER, "requirements.txt"), ...specs], { quiet: true }).then(() => true, () => false);
  let missing = [];
  if (!(await install(wanted))) {
    if (!eachAlone) missing = wanted;
    else for (const spec of wanted) if (!(await install([spec]))) missing.push(spec);
  }
  say(missing.length
    ? `Benchmarks: ${missing.length} package(s) some tasks need could not be installed (${missing.join(", ")}); the package index is unreachable or lacks them. \`npm run setup\` tries again; a benchmark that needs one says so.`
    : "Benchmarks: every package lm-eval's standard tasks use is installed.");
  writeFileSync(STAMP, JSON.stringify({ ...stamp, bench_missing: missing }, null, 2));
}

/** The requirement specifiers of a requirements file (comments and blank lines left out). */
function requirementLines(file) {
  return readFileSync(file, "utf8").split("\n").map((l) => l.replace(/#.*/, "").trim()).filter(Boolean);
}

/** pip with its progress passed through, minus the local mirror's noise. */
function pip(args, { quiet = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(VENV_PY, ["-m", "pip", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const relay = (stream, out) => {
      let buf = "";
      stream.on("data", (d) => {
        buf += d;
        const lines = buf.split("\n");
        buf = lines.pop();
        // quiet: a best-effort install reports its outcome itself, not pip's resolver errors.
        for (const l of lines) if (!quiet && !/is ignored: it is neither a file nor a directory/.test(l)) out.write(`  ${l}\n`);
      });
    };
    relay(child.stdout, process.stdout);
    relay(child.stderr, process.stderr);
    child.on("close", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`pip ${args[0]} failed (exit ${code}). If the network is down, pip cannot reach the package index: connect and run \`npm run setup\` again.`)),
    );
  });
}

/**
 * lm-eval's index of its ~14,000 built-in task files, kept in the venv (whetstone-cache/, named by
 * lm-eval's version, install time and path): built here once, so that the first benchmark does not spend
 * ~6.5 s on it. Only slower without it, so a failure is a note, not an error. `again`: after lm-eval was
 * (re)installed, when the index there may be of the one before.
 */
function benchIndex({ again }) {
  const cache = join(VENV, "whetstone-cache");
  if (!again && existsSync(cache) && readdirSync(cache).some((f) => /^lm-eval-tasks-.*\.pickle$/.test(f))) return;
  say("Benchmarks: indexing lm-eval's built-in tasks, once (about 10 s)…");
  const r = spawnSync(VENV_PY, ["-c", "from whetstone_worker.jobs.bench import index_builtin_tasks; print(index_builtin_tasks())"], { cwd: WORKER, encoding: "utf8" });
  const tasks = r.status === 0 ? Number(r.stdout.trim().split("\n").at(-1)) : NaN;
  say(Number.isFinite(tasks) ? `Benchmarks: ${tasks} built-in tasks indexed.` : `Benchmarks: could not index lm-eval's tasks now (${(r.stderr || r.error?.message || "").trim().split("\n").at(-1)}); the first benchmark does it.`);
}

async function fixture() {
  say("Tiny fixture model: checking .cache/fixtures/tiny-llama (used by the examples and the tests)…");
  run(VENV_PY, ["-m", "whetstone_fixtures.tiny", "--out", FIXTURE], { cwd: WORKER });
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: "inherit", ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.error?.message ?? `exit ${r.status}`})`);
}

main().catch((e) => {
  console.error(`[whetstone setup] FAILED: ${e.message}`);
  process.exit(1);
});
