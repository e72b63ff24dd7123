/**
 * Training speed and memory against the standard stack (issue 10): our SFT LoRA recipe versus plain
 * transformers Trainer + PEFT LoRA (padded batches, default attention) and, when trl is installed, TRL's
 * SFTTrainer with padding_free, back to back, on the same
 * model folder, tokenized data, LoRA config, learning rate, seed, optimizer steps and samples per
 * step; then our recipe with each optimization switched off (or on), one at a time.
 *
 *   npm run bench -- trainer                     CPU: tiny fixture + ~50M random Llama, context 512
 *   npm run bench -- trainer --gpu               GPU: Qwen2.5-0.5B, Llama-3.2-1B, Qwen2.5-7B, Llama-3.1-8B shapes, bf16, context 2048
 *   options: --shapes a,b  --steps N  --warmup N  --context N  --samples N  --rows N  --compile  --threads N  --out DIR
 *
 * Every configuration runs in a fresh worker process (whetstone_bench.trainer), so its peak
 * memory (CUDA allocator peak on GPU, peak resident set on CPU) is its own. Tokens/s counts real
 * tokens (no padding), timed after `warmup` steps. MFU = flops-per-token × tokens/s / peak, with
 * flops per token = 4·N_frozen + 6·N_lora + 12·layers·hidden·context (ALGORITHMS.md; N without the
 * input embedding, with the head) and the peak from the GPU's datasheet (dense bf16) or, on CPU, a
 * measured fp32 matmul. Results: bench/results/trainer.json and trainer.md.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { validateConfig } from "../engine/config/load";
import { PROJECT_ROOT, WORKER_DIR, workerPython } from "../engine/paths";
import { describeMachine } from "./machine";

interface Variant {
  name: string;
  arm: "ours" | "hf" | "trl";
  /** Config overrides for our recipe (dotted: "training.chunked_loss"). */
  set?: Record<string, unknown>;
  /** Why it does not run here (it is listed, not silently left out). */
  skip?: string;
}

type Result = Record<string, unknown> & { tokens_per_s?: number | null; tokens_per_cpu_s?: number | null; skipped?: string; achieved_flops?: number | null; peak_memory_bytes?: number };

const GPU_SHAPES = ["qwen2.5-0.5b", "llama-3.2-1b", "qwen2.5-7b", "llama-3.1-8b"];
const CPU_SHAPES = ["tiny", "llama-50m"];

function variants(shape: string, gpu: boolean, compile: boolean): Variant[] {
  const base: Variant[] = [
    { name: "HF Trainer + PEFT (baseline)", arm: "hf" },
    { name: "TRL SFTTrainer, padding-free", arm: "trl" },
    { name: "ours (defaults)", arm: "ours" },
  ];
  if (shape === "tiny") return base;
  const cpuOnly = gpu ? undefined : "CPU: activations already live in CPU memory";
  return [
    ...base,
    { name: "ours − chunked loss (full logits)", arm: "ours", set: { "training.chunked_loss": false } },
    { name: "ours − packing (padded batches)", arm: "ours", set: { "training.packing": false } },
    { name: "ours + gradient checkpointing", arm: "ours", set: { "training.gradient_checkpointing": true } },
    { name: "ours + checkpointing + activation offload", arm: "ours", set: { "training.gradient_checkpointing": true, "training.activation_offload": true }, skip: cpuOnly },
    { name: "ours + torch.compile", arm: "ours", set: { "training.compile": true }, skip: gpu || compile ? undefined : "CPU: off by default (compiling takes minutes on 2 cores); --compile runs it" },
    { name: "ours + Liger kernels", arm: "ours", set: { "training.liger": true } },
    { name: "ours, QLoRA (4-bit base)", arm: "ours", set: { finetune: "qlora" } },
  ];
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      gpu: { type: "boolean" }, shapes: { type: "string" }, steps: { type: "string" }, warmup: { type: "string" }, context: { type: "string" },
      samples: { type: "string" }, rows: { type: "string" }, compile: { type: "boolean" }, threads: { type: "string" }, out: { type: "string" },
    },
  });
  const gpu = values.gpu ?? false;
  const shapes = (values.shapes ?? (gpu ? GPU_SHAPES : CPU_SHAPES).join(",")).split(",");
  const context = Number(values.context ?? (gpu ? 2048 : 512));
  const steps = Number(values.steps ?? (gpu ? 20 : 6));
  const warmup = Number(values.warmup ?? (values.compile || gpu ? 3 : 1));
  const rows = Number(values.rows ?? 2); // packed rows of `context` tokens per micro-batch
  const samples = Number(values.samples ?? (gpu ? 4000 : 600));
  // One CPU thread by default: on a shared machine, OpenMP threads spin-waiting for a descheduled sibling make timings erratic.
  const threads = ["--threads", values.threads ?? (gpu ? "0" : "1")].filter((a) => a !== "0");
  const cache = join(PROJECT_ROOT, ".cache", "bench");
  const work = mkdtempSync(join(tmpdir(), "whetstone-bench-trainer-"));
  const t0 = Date.now();

  console.log(`preparing ${shapes.join(", ")} (model folders are built once into .cache/bench) and ${samples} conversations at context ${context}`);
  const prep = JSON.parse(
    await python(["prepare", "--cache", cache, "--tiny", join(PROJECT_ROOT, ".cache", "fixtures", "tiny-llama"), "--corpus", join(PROJECT_ROOT, "assets", "fixtures", "tiny-corpus.txt"),
      "--shapes", shapes.join(","), "--context", String(context), "--samples", String(samples), ...threads], () => {}),
  ) as { models: Record<string, string>; data: string; samples_per_row: number; peak_flops: number | null; peak_source: string } & Record<string, unknown>;
  const hfBatch = Math.max(1, Math.round(rows * prep.samples_per_row)); // the baseline's padded micro-batch holds as many samples
  const plan = shapes.flatMap((shape) => variants(shape, gpu, values.compile ?? false).map((v) => ({ shape, v })));
  const runnable = plan.filter((p) => !p.v.skip).length;
  const results: Record<string, { name: string; arm: string; set: Record<string, unknown>; result: Result }[]> = {};
  let done = 0;
  let stepSeconds = 0;
  let stepsDone = 0;

  for (const { shape, v } of plan) {
    const entry = { name: v.name, arm: v.arm, set: v.set ?? {}, result: {} as Result };
    (results[shape] ??= []).push(entry);
    if (v.skip) {
      entry.result = { skipped: v.skip };
      continue;
    }
    const raw: Record<string, any> = {
      name: `bench-${shape}`,
      model: { path: prep.models[shape] },
      data: { train: prep.data, max_length: context, overlong: "drop" },
      lora: { r: 16, alpha: 32, dropout: 0, target_modules: "all-linear" },
      training: {
        max_steps: steps, micro_batch_size: rows, gradient_accumulation: 1, learning_rate: 2e-4, scheduler: "constant", warmup_ratio: 0,
        neftune_alpha: 0, packing: true, checkpoint_every: 1_000_000, seed: 42,
      },
    };
    for (const [key, value] of Object.entries(v.set ?? {})) {
      const [section, field] = key.split(".");
      if (field) raw[section!][field] = value;
      else raw[section!] = value;
    }
    if (raw.training.packing === false) raw.training.micro_batch_size = hfBatch; // same samples per step as the baseline
    const config = validateConfig(raw, { defaultName: "bench" });
    const configPath = join(work, `${shape}-${done}.json`);
    writeFileSync(configPath, JSON.stringify(config));
    const label = `[${done + 1}/${runnable}] ${shape} · ${v.name}`;
    const started = Date.now();
    let lastStep = 0;
    const out = await python(
      ["run", "--arm", v.arm, "--config", configPath, "--steps", String(steps), "--warmup", String(warmup), "--micro-batch", String(hfBatch), ...threads],
      (step) => {
        lastStep = step;
        const per = (Date.now() - started) / 1000 / step;
        const left = (runnable - done) * steps - step;
        const eta = (stepsDone ? (stepSeconds / stepsDone) : per) * left;
        process.stdout.write(`\r${label}  step ${step}/${steps}  elapsed ${clock((Date.now() - t0) / 1000)}  ETA ~${clock(eta)}   `);
      },
    ).catch((err: Error) => JSON.stringify({ skipped: `driver failed: ${err.message.trim().split("\n").at(-1)}` }));
    stepSeconds += (Date.now() - started) / 1000;
    stepsDone += Math.max(lastStep, 1);
    entry.result = JSON.parse(out) as Result;
    const r = entry.result;
    process.stdout.write(`\r${label}  ${r.skipped ? `skipped: ${r.skipped}` : `${fmt(r.tokens_per_s, 0)} tok/s, loss ${fmt(r.loss_last as number, 4)}`}\n`);
    done += 1;
  }

  const command = `npm run bench -- trainer${argv.length ? " " + argv.join(" ") : ""}`;
  const record = {
    bench: "trainer",
    command,
    machine: describeMachine(),
    seconds: (Date.now() - t0) / 1000,
    settings: { context, steps, warmup, ours_rows_per_micro_batch: rows, baseline_samples_per_micro_batch: hfBatch, gradient_accumulation: 1, learning_rate: 2e-4, scheduler: "constant", lora: { r: 16, alpha: 32, target_modules: "all-linear" }, seed: 42 },
    data: { ...prep, models: undefined, peak_flops: undefined, peak_source: undefined },
    peak_flops: prep.peak_flops,
    peak_source: prep.peak_source,
    results,
  };
  const outDir = values.out ?? join(PROJECT_ROOT, "bench", "results");
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "trainer.json"), JSON.stringify(record, null, 2) + "\n");
  writeFileSync(join(outDir, "trainer.md"), markdown(record) + "\n");
  console.log("\n" + markdown(record));
}

/** Runs the Python driver; `onStep` gets each "step k/S" line of its stderr; resolves with the last stdout line. */
function python(args: string[], onStep: (step: number) => void): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(workerPython(), ["-m", "whetstone_bench.trainer", ...args], { cwd: WORKER_DIR, env: { ...process.env, HF_HUB_OFFLINE: "1", TOKENIZERS_PARALLELISM: "false" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      for (const m of d.toString().matchAll(/^step (\d+)\//gm)) onStep(Number(m[1]));
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const last = stdout.trim().split("\n").at(-1) ?? "";
      if (code === 0 && last.startsWith("{")) resolvePromise(last);
      else reject(new Error(`bench driver ${args.slice(0, 3).join(" ")} exited ${code}:\n${stderr.slice(-3000)}`));
    });
  });
}

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function fmt(x: number | null | undefined, digits: number): string {
  return typeof x === "number" && Number.isFinite(x) ? x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }) : "n/a";
}

export function markdown(r: { command: string; machine: Record<string, unknown>; settings: Record<string, unknown>; peak_flops: number | null; peak_source: string; data: Record<string, unknown>; results: Record<string, { name: string; result: Result }[]> }): string {
  const m = r.machine;
  const lines = [
    "# Training speed and memory: our SFT LoRA recipe vs transformers Trainer + PEFT",
    "",
    `Command: \`${r.command}\` on ${String(m.cpu)} (${String(m.cores)} cores, ${String(m.memory_gib)} GiB), torch ${String(m.torch)}, ${String(m.date).slice(0, 10)}.`,
    "",
    `Data: ${String(r.data.samples)} synthetic conversations, log-normal lengths (median ${fmt(r.data.median_length as number, 0)}, mean ${fmt(r.data.mean_length as number, 0)}, p95 ${fmt(r.data.p95_length as number, 0)} tokens) at context ${String(r.settings.context)}; ` +
      `ours: ${String(r.settings.ours_rows_per_micro_batch)} packed rows per step (${fmt(r.data.samples_per_row as number, 2)} samples a row, ${fmt(100 * (r.data.fill as number), 1)}% filled), baseline: ${String(r.settings.baseline_samples_per_micro_batch)} padded samples per step; ` +
      `${String(r.settings.steps)} optimizer steps, the first ${String(r.settings.warmup)} untimed; LoRA r 16 on all linear layers, lr 2e-4 constant, seed 42. ` +
      `MFU against ${fmt((r.peak_flops ?? NaN) / 1e12, 3)} TFLOP/s (${r.peak_source}).`,
  ];
  for (const [shape, entries] of Object.entries(r.results)) {
    const rate = (x: Result) => x.tokens_per_cpu_s ?? x.tokens_per_s ?? null; // CPU: per CPU-second (shared machine), GPU: wall
    const baseEntry = entries.find((e) => e.name.startsWith("HF"));
    const base = baseEntry ? rate(baseEntry.result) : null;
    const baseMem = entries.find((e) => e.name.startsWith("HF"))?.result.peak_memory_bytes ?? null;
    lines.push("", `## ${shape}`, "", "| configuration | tokens/s (wall) | tokens/CPU-s | × baseline | step time | peak memory | × baseline | MFU | loss first → last | computed / real tokens | load |", "|---|---|---|---|---|---|---|---|---|---|---|");
    for (const { name, result: x } of entries) {
      if (x.skipped) {
        lines.push(`| ${name} | skipped: ${x.skipped.replace(/\|/g, "/")} | | | | | | | | | |`);
        continue;
      }
      const tps = rate(x);
      const mem = x.peak_memory_bytes ?? null;
      const mfu = x.achieved_flops && r.peak_flops ? (100 * x.achieved_flops) / r.peak_flops : null;
      lines.push(
        `| ${name} | ${fmt(x.tokens_per_s, 0)} | ${fmt(x.tokens_per_cpu_s, 0)} | ${base && tps ? fmt(tps / base, 2) : "n/a"} | ${fmt(x.step_time_s as number, 2)} s | ${fmt(mem !== null ? mem / 2 ** 20 : null, 0)} MiB | ${baseMem && mem ? fmt(mem / baseMem, 2) : "n/a"} | ${fmt(mfu, 1)}% | ${fmt(x.loss_first as number, 4)} → ${fmt(x.loss_last as number, 4)} | ${fmt((x.computed_tokens_per_step as number) / (x.real_tokens_per_step as number), 2)} | ${fmt(x.load_average_1m as number, 1)} |`,
      );
    }
  }
  lines.push("", "× baseline compares real tokens per CPU-second on CPU (one torch thread; the process's CPU time does not move when other programs share the cores, wall time does: see the load column, the 1-minute load average at the end of each run) and real tokens per second on GPU. MFU uses the same rate. Peak memory is the CUDA allocator peak on GPU and the process's peak resident set on CPU (Python, torch and the model included), each configuration in its own process. Losses differ between rows that see different samples per step (the baseline and `− packing` draw padded batches, ours packed rows); the parity test (`engine/worker/tests/test_trainer_parity.py`) checks that on identical batches the losses agree to 2e-5.");
  return lines.join("\n");
}
