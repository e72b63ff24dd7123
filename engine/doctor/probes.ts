/**
 * What `whetstone doctor` looks at, gathered as plain data: the OS, nvidia-smi, the worker's Python
 * probe (whetstone_worker.doctor) and free disk space. Each probe records its failure instead of
 * throwing, so a machine with no driver, no venv or no GPU still gets a full report; analyze.ts
 * turns the data into findings, and tests feed it recorded outputs from other machines.
 */
import { spawnSync } from "node:child_process";
import { statfsSync, existsSync } from "node:fs";
import { homedir, platform, release, arch, totalmem, cpus } from "node:os";
import { join } from "node:path";
import { whetstoneHome } from "../paths";
import { runPython, workerInterpreter } from "../supervisor/python-run";

export interface NvidiaGpu {
  name: string;
  memory_mib: number;
  driver: string;
  capability: string | null;
}

export interface PythonProbe {
  python?: string;
  packages?: Record<string, string | null>;
  torch?: {
    importable: boolean;
    error?: string;
    version?: string;
    cuda_build?: string | null;
    hip_build?: string | null;
    cuda_available?: boolean;
    mps_built?: boolean;
    mps_available?: boolean;
    devices?: { name: string; total_memory: number; capability: string; bf16: boolean }[];
  };
  features?: Record<string, { installed: boolean; version: string | null; usable: boolean; why: string | null }>;
}

export interface Probes {
  os: { platform: NodeJS.Platform; release: string; arch: string; memory_bytes: number; cpu: string; cores: number };
  /** null: nvidia-smi is not on this machine (or failed); the reason is in nvidia_error. */
  nvidia: NvidiaGpu[] | null;
  nvidia_error: string | null;
  python: PythonProbe | null;
  python_error: string | null;
  disks: { label: string; path: string; free_bytes: number | null }[];
}

/** Parse `nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(text: string): NvidiaGpu[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const [name = "", memory = "0", driver = "", cap] = line.split(",").map((x) => x.trim());
      return { name, memory_mib: Number(memory), driver, capability: cap && cap !== "[N/A]" ? cap : null };
    });
}

/**
 * The probes. The worker's Python probe is forked from the warm fork server where it applies (it imports
 * torch, transformers and peft: ~2 CPU-s in a fresh interpreter, milliseconds in a fork), and runs
 * asynchronously: the app runs this check at every start, and a synchronous spawn held the engine, and
 * every client it answers, for those seconds.
 */
export async function gatherProbes(env: NodeJS.ProcessEnv = process.env): Promise<Probes> {
  const smi = spawnSync("nvidia-smi", ["--query-gpu=name,memory.total,driver_version,compute_cap", "--format=csv,noheader,nounits"], { encoding: "utf8", timeout: 15_000 });
  const nvidiaOk = smi.status === 0;
  const py = await runPython(["-m", "whetstone_worker.doctor"], env, { timeoutMs: 120_000 });
  let python: PythonProbe | null = null;
  let pythonError: string | null = null;
  if (py.error) pythonError = `${workerInterpreter(undefined, env)}: ${py.error.message}`;
  else if (py.code !== 0) pythonError = (py.stderr || "").trim().split("\n").slice(-3).join(" | ") || `exit ${py.signal ?? py.code}`;
  else {
    try {
      python = JSON.parse(py.stdout) as PythonProbe;
    } catch {
      pythonError = "the probe printed something that is not JSON";
    }
  }
  const home = whetstoneHome(env);
  const hfCache = env.HF_HUB_CACHE ?? join(env.HF_HOME ?? join(homedir(), ".cache", "huggingface"), "hub");
  return {
    os: { platform: platform(), release: release(), arch: arch(), memory_bytes: totalmem(), cpu: cpus()[0]?.model ?? "?", cores: cpus().length },
    nvidia: nvidiaOk ? parseNvidiaSmi(smi.stdout) : null,
    nvidia_error: nvidiaOk ? null : smi.error ? "nvidia-smi not found" : (smi.stderr || smi.stdout || "").trim().split("\n")[0] || `exit ${smi.status}`,
    python,
    python_error: pythonError,
    disks: [
      { label: "data folder", path: home, free_bytes: freeBytes(home) },
      { label: "model cache", path: hfCache, free_bytes: freeBytes(hfCache) },
    ],
  };
}

function freeBytes(path: string): number | null {
  // statfs needs an existing path: the folder itself, or the nearest parent that exists.
  let p = path;
  while (!existsSync(p) && p !== join(p, "..")) p = join(p, "..");
  try {
    const s = statfsSync(p);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

