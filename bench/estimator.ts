/**
 * The memory estimator against measured peaks: for a few small random Llama-style models and run
 * shapes, the estimate (engine/plan/estimate.ts, as `whetstone train --plan` prints it) next to the
 * peak the worker's preflight measures for one real training step (forward, backward, AdamW step)
 * at that shape. On the CPU the measure is the worker process's peak resident set (VmHWM, reset just
 * before the model loads), which includes the Python runtime, as the estimate's overhead term does.
 * CUDA peaks (max_memory_allocated) come from the same command on a GPU machine; none here.
 *
 *   npm run bench -- estimator [--out DIR]
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Engine } from "../engine/api/engine";
import { PROJECT_ROOT, WORKER_DIR, workerPython } from "../engine/paths";
import { describeMachine } from "./machine";

interface Shape {
  name: string;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kv: number;
  vocab: number;
}

const MODELS: Shape[] = [
  { name: "llama-h256-l4-v1k", hidden: 256, intermediate: 768, layers: 4, heads: 4, kv: 2, vocab: 1024 },
  { name: "llama-h512-l8-v8k", hidden: 512, intermediate: 1536, layers: 8, heads: 8, kv: 4, vocab: 8192 },
  { name: "llama-h1024-l8-v32k", hidden: 1024, intermediate: 2816, layers: 8, heads: 16, kv: 4, vocab: 32000 },
];

const RUNS: { name: string; finetune: "lora" | "full"; micro: number; length: number; checkpointing: boolean }[] = [
  { name: "lora r16, 4 × 512", finetune: "lora", micro: 4, length: 512, checkpointing: false },
  { name: "lora r16, 8 × 1024, checkpointing", finetune: "lora", micro: 8, length: 1024, checkpointing: true },
  { name: "full, 4 × 512", finetune: "full", micro: 4, length: 512, checkpointing: false },
];

/** A randomly initialised model folder (config.json + safetensors + the tiny fixture's tokenizer files). */
function buildModel(dir: string, s: Shape): string {
  const out = join(dir, s.name);
  const script = `
import json, shutil, sys, torch
from pathlib import Path
from transformers import LlamaConfig, LlamaForCausalLM
s = json.loads(sys.argv[1]); out = Path(sys.argv[2]); tiny = Path(sys.argv[3])
torch.manual_seed(0)
cfg = LlamaConfig(hidden_size=s["hidden"], intermediate_size=s["intermediate"], num_hidden_layers=s["layers"], num_attention_heads=s["heads"],
                  num_key_value_heads=s["kv"], vocab_size=s["vocab"], max_position_embeddings=4096, tie_word_embeddings=False)
LlamaForCausalLM(cfg).save_pretrained(out)
for f in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
    shutil.copy(tiny / f, out / f)
`;
  execFileSync(workerPython(), ["-c", script, JSON.stringify(s), out, join(PROJECT_ROOT, ".cache", "fixtures", "tiny-llama")], { cwd: WORKER_DIR, stdio: "inherit" });
  return out;
}

const mib = (b: number) => Math.round(b / 2 ** 20);

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { out: { type: "string" } } });
  const work = mkdtempSync(join(tmpdir(), "whetstone-estimator-"));
  const engine = new Engine({ home: join(work, "home") });
  const rows: Record<string, unknown>[] = [];
  for (const shape of MODELS) {
    const model = buildModel(work, shape);
    for (const run of RUNS) {
      const config = {
        name: "estimator",
        finetune: run.finetune,
        model: { path: model },
        data: { train: join(PROJECT_ROOT, "examples", "tiny-chat.jsonl"), max_length: run.length },
        lora: { r: 16, alpha: 32 },
        training: { micro_batch_size: run.micro, gradient_checkpointing: run.checkpointing, neftune_alpha: 0 },
      };
      const { plan, result } = await engine.call("preflightRun", { config });
      const row = {
        model: shape.name,
        parameters: plan.estimate.parameters,
        run: run.name,
        estimate_mib: mib(plan.estimate.total),
        measured_mib: result.peak_bytes === null ? null : mib(result.peak_bytes),
        runtime_mib: result.baseline_bytes === null ? null : mib(result.baseline_bytes),
        error_pct: result.peak_bytes === null ? null : Math.round((1000 * (plan.estimate.total - result.peak_bytes)) / result.peak_bytes) / 10,
        estimate_bytes: plan.estimate.bytes,
        seconds: result.seconds,
      };
      console.log(JSON.stringify(row));
      rows.push(row);
    }
  }
  const errors = rows.map((r) => r.error_pct as number).filter((x) => x !== null);
  const summary = { mean_abs_error_pct: Math.round((10 * errors.reduce((a, b) => a + Math.abs(b), 0)) / errors.length) / 10, under_estimates: errors.filter((e) => e < 0).length, cases: errors.length };
  const command = `npm run bench -- estimator${argv.length ? " " + argv.join(" ") : ""}`;
  const record = { bench: "estimator", command, machine: describeMachine(), device: "cpu", measure: "worker peak RSS (VmHWM) over one training step", rows, summary };
  const outDir = values.out ?? join(PROJECT_ROOT, "bench", "results");
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "estimator.json"), JSON.stringify(record, null, 2) + "\n");
  writeFileSync(join(outDir, "estimator.md"), markdown(record) + "\n");
  console.log(JSON.stringify(summary));
}

function markdown(r: { command: string; machine: Record<string, unknown>; rows: Record<string, unknown>[]; summary: Record<string, number> }): string {
  const lines = [
    "# Memory estimator vs measured peaks",
    "",
    `Command: \`${r.command}\` on ${String(r.machine.cpu)} (${String(r.machine.cores)} cores, ${String(r.machine.memory_gib)} GiB), torch ${String(r.machine.torch)}, ${String(r.machine.date).slice(0, 10)}.`,
    "",
    "Each row: the estimate `whetstone train --plan` prints for the run on this CPU (fp32), and the peak resident set of the worker over one real training step at that shape (`whetstone train --preflight`: forward, backward, AdamW step on full rows; VmHWM reset before the model loads, so the Python runtime counts, as in the estimate's overhead term). Random Llama-style models; LoRA on all linear layers.",
    "",
    "| model | parameters | run | estimate (MiB) | measured (MiB) | of which runtime before the model (MiB) | estimate error |",
    "|---|---|---|---|---|---|---|",
    ...r.rows.map((x) => `| ${String(x.model)} | ${Number(x.parameters).toLocaleString("en-US")} | ${String(x.run)} | ${String(x.estimate_mib)} | ${String(x.measured_mib)} | ${String(x.runtime_mib)} | ${x.error_pct === null ? "-" : `${Number(x.error_pct) > 0 ? "+" : ""}${String(x.error_pct)}%`} |`),
    "",
    `Mean absolute error ${r.summary.mean_abs_error_pct}% over ${r.summary.cases} cases; ${r.summary.under_estimates} under-estimate(s) (a positive error is an over-estimate, the safe side).`,
    "",
    "CUDA peaks are not measured yet (no GPU on the machine these numbers come from); the same command on a GPU machine measures `torch.cuda.max_memory_allocated` instead.",
  ];
  return lines.join("\n");
}
