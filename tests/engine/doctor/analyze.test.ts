/**
 * The doctor's every branch, fed with probe outputs in the exact formats nvidia-smi and
 * whetstone_worker.doctor print (tests/fixtures/doctor/*.json), plus the real probes of this machine.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { analyze, formatReport } from "../../../engine/doctor/analyze";
import { gatherProbes, parseNvidiaSmi, type Probes, type PythonProbe } from "../../../engine/doctor/probes";

function recorded(name: string, freeGiB = 500): Probes {
  const fx = JSON.parse(readFileSync(join(__dirname, "../../fixtures/doctor", `${name}.json`), "utf8")) as {
    nvidia_smi: string | null;
    nvidia_error: string | null;
    python: PythonProbe | null;
    python_error: string | null;
  };
  return {
    os: { platform: "linux", release: "6.8", arch: "x64", memory_bytes: 64 * 2 ** 30, cpu: "test", cores: 16 },
    nvidia: fx.nvidia_smi === null ? null : parseNvidiaSmi(fx.nvidia_smi),
    nvidia_error: fx.nvidia_error,
    python: fx.python,
    python_error: fx.python_error,
    disks: [{ label: "data folder", path: "/data", free_bytes: freeGiB * 2 ** 30 }],
  };
}

const find = (name: string, topic: string, level?: string) => analyze(recorded(name)).findings.filter((f) => f.topic === topic && (!level || f.level === level));

describe("doctor analysis", () => {
  it("parses nvidia-smi's CSV", () => {
    expect(parseNvidiaSmi("NVIDIA H100 80GB HBM3, 81559, 570.124.06, 9.0\nTesla T4, 15360, 535.183.01, [N/A]\n")).toEqual([
      { name: "NVIDIA H100 80GB HBM3", memory_mib: 81559, driver: "570.124.06", capability: "9.0" },
      { name: "Tesla T4", memory_mib: 15360, driver: "535.183.01", capability: null },
    ]);
  });

  it("a CPU-only machine is ready, says so, and tells how to use a GPU", () => {
    const r = analyze(recorded("cpu-linux"));
    expect(r.summary).toEqual({ accelerator: "CPU only", ready: true, gpus: 0 });
    expect(find("cpu-linux", "torch")[0]!.message).toBe("torch build: CPU-only");
    expect(find("cpu-linux", "gpu", "warning")[0]!.fix).toContain("whetstone setup --cuda");
  });

  it("an H100 with a CUDA build: GPU, bf16, usable FlashAttention and bitsandbytes, Liger missing with how to add it", () => {
    const r = analyze(recorded("h100"));
    expect(r.summary).toEqual({ accelerator: "1× NVIDIA H100 80GB HBM3", ready: true, gpus: 1 });
    expect(find("h100", "gpu", "ok")[0]!.message).toBe("GPU 0: NVIDIA H100 80GB HBM3, 79.2 GiB, compute capability 9.0, driver 570.124.06");
    expect(find("h100", "precision")).toEqual([]);
    expect(find("h100", "flash_attn", "ok")[0]!.message).toContain("usable (2.8.3)");
    expect(find("h100", "liger_kernel")[0]!.fix).toContain("pip install liger-kernel");
  });

  it("counts every GPU nvidia-smi lists: what training on all of them means", () => {
    const one = recorded("h100");
    const four = { ...one, nvidia: [...Array(4)].map(() => one.nvidia![0]!) };
    expect(analyze(four).summary.gpus).toBe(4);
    expect(analyze(recorded("cpu-linux")).summary.gpus).toBe(0);
  });

  it("an NVIDIA GPU with the CPU-only torch build is an error with the setup command", () => {
    const r = analyze(recorded("nvidia-with-cpu-torch"));
    expect(r.summary.ready).toBe(false);
    const e = find("nvidia-with-cpu-torch", "torch", "error")[0]!;
    expect(e.message).toContain("NVIDIA GeForce RTX 4090");
    expect(e.fix).toBe("Run `whetstone setup --cuda` to install the CUDA build.");
  });

  it("a GPU without fast bf16 gets the fp16 warning", () => {
    expect(find("t4-no-bf16", "precision", "warning")[0]!.fix).toContain("fp16 with loss scaling");
  });

  it("a CUDA build the driver cannot run names the driver", () => {
    const e = find("driver-too-old", "cuda", "error")[0]!;
    expect(e.message).toBe("torch is built for CUDA 12.8 but cannot use the GPU (driver 470.256.02).");
    expect(e.fix).toContain("update the driver");
  });

  it("Apple silicon reports MPS", () => {
    expect(analyze(recorded("mac-mps")).summary.accelerator).toBe("Apple MPS");
  });

  it("a broken worker environment is an error that says to run npm install", () => {
    const r = analyze(recorded("broken-venv"));
    expect(r.summary.ready).toBe(false);
    expect(find("broken-venv", "python", "error")[0]!.fix).toContain("npm install");
  });

  it("warns about little free disk", () => {
    const d = analyze(recorded("h100", 5)).findings.find((f) => f.topic === "disk")!;
    expect(d.level).toBe("warning");
    expect(d.fix).toContain("WHETSTONE_HOME");
  });

  it("reports this machine from its real probes", async () => {
    const r = analyze(await gatherProbes());
    expect(r.probes.python?.torch?.importable).toBe(true);
    expect(formatReport(r)).toMatch(/^whetstone doctor: /);
  });
});
