/**
 * From probes to findings: each problem comes with its fix. Pure, so every branch is tested with
 * recorded outputs of real machines (tests/fixtures/doctor/) rather than skipped where no GPU is.
 */
import type { Probes } from "./probes";

export type Level = "ok" | "info" | "warning" | "error";

export interface Finding {
  level: Level;
  topic: string;
  message: string;
  fix?: string;
}

export interface DoctorReport {
  /** gpus: the NVIDIA GPUs nvidia-smi lists, which training.devices "auto" trains on (0 without any). */
  summary: { accelerator: string; ready: boolean; gpus: number };
  findings: Finding[];
  probes: Probes;
}

const GIB = 1024 ** 3;
const MIN_FREE_GIB = 20;
const SETUP_CUDA = "whetstone setup --cuda";

export function analyze(p: Probes): DoctorReport {
  const f: Finding[] = [];
  const torch = p.python?.torch;
  const gpus = p.nvidia ?? [];

  f.push({ level: "info", topic: "os", message: `${p.os.platform} ${p.os.release} (${p.os.arch}), ${p.os.cores} cores, ${(p.os.memory_bytes / GIB).toFixed(0)} GiB RAM` });

  if (!p.python) {
    f.push({ level: "error", topic: "python", message: `The worker's Python environment does not run: ${p.python_error ?? "unknown error"}.`, fix: "Run `npm install` (or `npm run setup`) in the Whetstone folder to create it." });
  } else if (!torch?.importable) {
    f.push({ level: "error", topic: "torch", message: `PyTorch cannot be imported: ${torch?.error ?? "missing"}.`, fix: "Run `npm run setup` to reinstall the worker's packages." });
  } else {
    const pk = p.python.packages ?? {};
    f.push({ level: "info", topic: "python", message: `Python ${p.python.python}; torch ${torch.version}, transformers ${pk.transformers ?? "missing"}, peft ${pk.peft ?? "missing"}` });
    const build = torch.cuda_build ? `CUDA ${torch.cuda_build}` : torch.hip_build ? `ROCm ${torch.hip_build}` : torch.mps_built ? "Apple MPS" : "CPU-only";
    f.push({ level: "info", topic: "torch", message: `torch build: ${build}` });

    if (gpus.length > 0 && !torch.cuda_build && !torch.hip_build) {
      f.push({ level: "error", topic: "torch", message: `An NVIDIA GPU is present (${gpus[0]!.name}) but torch is the CPU-only build: training would run on the CPU, hundreds of times slower.`, fix: `Run \`${SETUP_CUDA}\` to install the CUDA build.` });
    } else if (gpus.length > 0 && torch.cuda_build && !torch.cuda_available) {
      f.push({ level: "error", topic: "cuda", message: `torch is built for CUDA ${torch.cuda_build} but cannot use the GPU (driver ${gpus[0]!.driver}).`, fix: "The NVIDIA driver is probably older than this CUDA build needs: update the driver, or reinstall torch for an older CUDA. `nvidia-smi` shows the highest CUDA version the driver supports." });
    }
    for (const [i, d] of (torch.devices ?? []).entries()) {
      f.push({ level: "ok", topic: "gpu", message: `GPU ${i}: ${d.name}, ${(d.total_memory / GIB).toFixed(1)} GiB, compute capability ${d.capability}${gpus[i]?.driver ? `, driver ${gpus[i]!.driver}` : ""}` });
      if (!d.bf16) f.push({ level: "warning", topic: "precision", message: `${d.name} has no fast bf16 (compute capability ${d.capability} < 8.0).`, fix: "fp16 with loss scaling will be used (training.precision: fp16); it is slower to converge safely than bf16 and can overflow on some models." });
    }
    if (torch.mps_available) f.push({ level: "ok", topic: "gpu", message: "Apple GPU (MPS) available: training runs in fp32 by default (precision: fp16 to opt in)." });
    if (!torch.cuda_available && !torch.mps_available && gpus.length === 0) {
      f.push({ level: "warning", topic: "gpu", message: "No GPU found: training runs on the CPU, which suits only tiny models and tests.", fix: "On a machine with an NVIDIA GPU, install its driver, then run `" + SETUP_CUDA + "`." });
    }
    const cudaReady = torch.cuda_available && (torch.devices?.length ?? 0) > 0;
    const features = p.python.features ?? {};
    const describe: Record<string, [string, string]> = {
      flash_attn: ["FlashAttention 2 (packed training without padding on GPU)", "pip install flash-attn into engine/worker/.venv (needs a CUDA toolkit matching torch)"],
      bitsandbytes: ["bitsandbytes (QLoRA: 4-bit base weights)", "pip install bitsandbytes into engine/worker/.venv"],
      liger_kernel: ["Liger kernels (fused losses, less memory)", "pip install liger-kernel into engine/worker/.venv"],
    };
    for (const [key, [what, how]] of Object.entries(describe)) {
      const feat = features[key];
      if (feat?.usable) f.push({ level: "ok", topic: key, message: `${what}: usable (${feat.version}).` });
      else if (cudaReady) f.push({ level: "info", topic: key, message: `${what}: not usable (${feat?.why ?? "not installed"}).`, fix: how });
      else f.push({ level: "info", topic: key, message: `${what}: needs a CUDA GPU; not used here.` });
    }
  }
  if (gpus.length === 0 && p.nvidia_error && p.nvidia_error !== "nvidia-smi not found") {
    f.push({ level: "warning", topic: "driver", message: `nvidia-smi failed: ${p.nvidia_error}.`, fix: "Reinstall or update the NVIDIA driver, then reboot." });
  }
  for (const d of p.disks) {
    if (d.free_bytes === null) continue;
    const gib = d.free_bytes / GIB;
    f.push(gib < MIN_FREE_GIB
      ? { level: "warning", topic: "disk", message: `${d.label} (${d.path}): only ${gib.toFixed(1)} GiB free.`, fix: `A 7B model needs ~15 GiB to download and as much again to export; free space or point ${d.label === "data folder" ? "WHETSTONE_HOME" : "HF_HOME"} at a larger disk.` }
      : { level: "ok", topic: "disk", message: `${d.label} (${d.path}): ${gib.toFixed(0)} GiB free.` });
  }
  const accelerator = torch?.cuda_available && torch.devices?.length ? `${torch.devices.length}× ${torch.devices[0]!.name}` : torch?.mps_available ? "Apple MPS" : "CPU only";
  return { summary: { accelerator, ready: !f.some((x) => x.level === "error"), gpus: gpus.length }, findings: f, probes: p };
}

export function formatReport(r: Pick<DoctorReport, "summary" | "findings">): string {
  const mark: Record<Level, string> = { ok: "✓", info: "·", warning: "!", error: "✗" };
  const lines = [`whetstone doctor: ${r.summary.accelerator}; ${r.summary.ready ? "ready to train" : "problems need fixing first"}`, ""];
  for (const x of r.findings) {
    lines.push(`${mark[x.level]} ${x.topic.padEnd(12)} ${x.message}`);
    if (x.fix && x.level !== "ok") lines.push(`  ${"".padEnd(12)} fix: ${x.fix}`);
  }
  return lines.join("\n");
}
