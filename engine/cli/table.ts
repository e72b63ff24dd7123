/**
 * Every `whetstone` command: its usage lines, its options and what runs it. `whetstone help`,
 * `whetstone CMD --help` and the parser are generated from this one table (options.ts). Command
 * modules are imported when their command runs, so `whetstone help` loads none of them.
 */
import type { Engine } from "../api/engine";
import { EXPORT_DTYPES, EXPORT_FORMATS, GGUF_QUANTIZATIONS, PUSH_FORMATS } from "../export/formats";
import { MERGE_METHODS } from "../merge/methods";
import { FORMATS, METHODS, SCHEMAS } from "../data/types";
import { WhetstoneError } from "../util/errors";
import type { Io } from "./io";
import type { CommandSpec, Options } from "./options";

export interface Ctx {
  io: Io;
  /** The engine, created on first use (help, config and setup need none). */
  engine: () => Promise<Engine>;
}

/** Keeps each command's option table as its values' type. */
const command = <const O extends Options>(spec: CommandSpec<O, Ctx>) => spec as unknown as CommandSpec<Options, Ctx>;

/** The first positional argument, or a usage error naming what is missing. */
function need(args: string[], name: string, what: string): string {
  const v = args[0];
  if (v) return v;
  throw new WhetstoneError({ code: "USAGE", message: `\`whetstone ${name}\` needs ${what}.`, hint: `\`whetstone ${name} --help\` shows the usage.` });
}

/** --devices: a whole number of at least 1, or auto. */
function devicesFlag(raw: string | undefined): number | "auto" | undefined {
  if (raw === undefined || raw === "auto") return raw;
  if (/^[1-9]\d*$/.test(raw)) return Number(raw);
  throw new WhetstoneError({ code: "USAGE", message: `--devices must be a whole number of at least 1, or auto, got '${raw}'.`, hint: "`whetstone train --help` explains each option." });
}

const json = { type: "boolean", help: "machine-readable output" } as const;
const run = (what: string) => ({ json, verbose: { type: "boolean", short: "v", help: `also print the worker's log lines while following the ${what}` } }) as const;

const judging = {
  prompts: { type: "string", value: "FILE", help: "prompts: .txt a line each, JSONL of {messages} or {prompt}, any dataset file", default: "the run's held-out split" },
  judge: { type: "string", value: "PATH|URL", help: "a local ONNX judge folder or an OpenAI-compatible server URL", default: "a small instruct model, downloaded once into the data folder" },
  "judge-model": { type: "string", value: "M", help: "model name to ask an OpenAI-compatible judge for" },
  limit: { type: "int", value: "N", help: "at most N prompts", default: "200" },
  "max-tokens": { type: "int", value: "N", help: "longest answer in tokens", default: "256" },
  temperature: { type: "number", value: "T", help: "0 greedy, above 0 sampling", default: "0" },
  "top-p": { type: "number", value: "P", help: "nucleus sampling when the temperature is above 0" },
  seed: { type: "int", value: "N", help: "sampling seed", default: "0" },
  resamples: { type: "int", value: "N", help: "bootstrap resamples for the CIs", default: "1000" },
} as const;

const dataSource = {
  json,
  config: { type: "string", value: "CONFIG", help: "take the file, model and data settings from a run config" },
  model: { type: "string", value: "DIR", help: "the base model whose tokenizer and chat template are used" },
  format: { type: "string", value: "F", choices: FORMATS, help: "file format", default: "from the extension and content" },
  schema: { type: "string", value: "S", choices: SCHEMAS, help: "record schema", default: "detected" },
  columns: { type: "string", value: "A=B,…", help: "map source columns onto fields, e.g. question=prompt,answer=completion" },
  roles: { type: "string", value: "A=B,…", help: "map role names onto roles, e.g. human=user,bot=assistant" },
  "max-length": { type: "int", value: "N", help: "longest sample in tokens", default: "the config's, else 1024" },
  overlong: { type: "string", value: "P", choices: ["drop", "truncate", "error"], help: "what happens to longer samples" },
} as const;

const torch = (build: string) => ({ type: "boolean", help: `the ${build} build of torch` }) as const;

export const COMMANDS: readonly CommandSpec<Options, Ctx>[] = [
  command({
    name: "train",
    usage: [
      { line: "train CONFIG", summary: "start a run from a YAML/JSON config and follow it" },
      { line: "train CONFIG --plan", summary: "peak memory and time estimate against this machine, and what to change when it does not fit; nothing is loaded or trained" },
      { line: "train CONFIG --nnodes N --node-rank R --master-addr HOST", summary: "one run on several machines: the same command on each, with its own rank; node 0 holds the run, the others follow it" },
    ],
    options: {
      ...run("run"),
      plan: { type: "boolean", help: "print the memory/time estimate and fitting advice, do not train" },
      preflight: { type: "boolean", help: "measure one forward+backward step at the configured shape first (automatic when the estimate is near or over the device's memory)" },
      "no-preflight": { type: "boolean", help: "never measure that step first, even near the limit" },
      "skip-invalid": { type: "boolean", help: "train on the valid rows and list the skipped ones" },
      devices: { type: "string", value: "N|auto", help: "processes that train the run together on this machine, one per GPU; auto: every GPU (in place of the config's training.devices)" },
      nnodes: { type: "int", value: "N", help: "machines that train the run together; each runs this same command with its own --node-rank", default: "1" },
      "node-rank": { type: "int", value: "R", help: "this machine's rank, 0 to N-1: node 0 holds the run (its folder, metrics, outputs), the others follow it", default: "0" },
      "master-addr": { type: "string", value: "HOST", help: "node 0's host name or address, the same on every machine (required with --nnodes above 1)" },
      "master-port": { type: "int", value: "PORT", help: "a free port on node 0 where the machines meet", default: "29500" },
    },
    run: async ({ engine, io }, args, v) => {
      const config = need(args, "train", "a config file");
      if (v.plan) return (await import("./machine-commands")).planCommand(await engine(), config, io, v);
      const preflight = v.preflight ? "always" : v["no-preflight"] ? "never" : "auto";
      const devices = devicesFlag(v.devices);
      const given = { nnodes: v.nnodes, node_rank: v["node-rank"], master_addr: v["master-addr"], master_port: v["master-port"] };
      const nodes = Object.values(given).some((x) => x !== undefined) ? (await import("../supervisor/launcher")).checkNodes(given) : null;
      // A machine above node 0 holds no run: it follows node 0's.
      if (nodes && nodes.node_rank > 0) return (await import("./follow-command")).followCommand(config, io, { devices, nodes });
      return (await import("./commands")).trainCommand(await engine(), config, io, { ...v, preflight, devices, nodes });
    },
  }),
  command({
    name: "runs",
    usage: [{ line: "runs", summary: "list runs" }],
    options: { json },
    run: async ({ engine, io }, _args, v) => (await import("./commands")).runsCommand(await engine(), io, v),
  }),
  command({
    name: "show",
    usage: [{ line: "show RUN", summary: "a run's state, config, metrics, checkpoints and log" }],
    options: { json },
    run: async ({ engine, io }, args, v) => (await import("./commands")).showCommand(await engine(), need(args, "show", "a run id"), io, v),
  }),
  command({
    name: "resume",
    usage: [{ line: "resume RUN", summary: "continue an interrupted or cancelled run from its last checkpoint" }],
    options: run("run"),
    run: async ({ engine, io }, args, v) => (await import("./commands")).resumeCommand(await engine(), need(args, "resume", "a run id"), io, v),
  }),
  command({
    name: "cancel",
    usage: [{ line: "cancel RUN", summary: "stop a run (it writes a checkpoint first)" }],
    options: {},
    run: async ({ engine, io }, args) => (await import("./commands")).cancelCommand(await engine(), need(args, "cancel", "a run id"), io),
  }),
  command({
    name: "audit",
    usage: [{ line: "audit RUN", summary: "memorization audit: does the tuned model reproduce its training answers? base vs tuned, stored in the run's reports/" }],
    options: {
      json,
      samples: { type: "int", value: "N", help: "training conversations to probe", default: "200" },
      prefix: { type: "int", value: "N", help: "answer tokens given after the prompt", default: "32" },
      tokens: { type: "int", value: "N", help: "answer tokens to reproduce", default: "64" },
      seed: { type: "int", value: "N", help: "which samples are drawn", default: "0" },
      "embedding-model": { type: "string", value: "DIR", help: "sentence-embedding model folder", default: "all-MiniLM-L6-v2 if cached, else the base model" },
    },
    run: async ({ engine, io }, args, v) => (await import("./commands")).auditCommand(await engine(), need(args, "audit", "a run id"), io, v),
  }),
  command({
    name: "export",
    usage: [{ line: "export RUN --format F --out DIR", summary: "write the trained model for other tools (merged safetensors, PEFT adapter, GGUF for llama.cpp, GGUF + Modelfile for Ollama, ONNX for transformers.js)" }],
    options: {
      json,
      format: { type: "string", value: "F", choices: EXPORT_FORMATS, help: "what to write" },
      out: { type: "string", value: "DIR", help: "folder to create (refused if it exists, unless --overwrite)" },
      dtype: { type: "string", value: "D", choices: EXPORT_DTYPES, help: "weights' type", default: "the base model's for safetensors, float32 for adapter and onnx" },
      quant: { type: "string", value: "Q", choices: GGUF_QUANTIZATIONS, help: "gguf, ollama: quantization", default: "f16" },
      "shard-size": { type: "int", value: "MB", help: "safetensors: largest weights file in MB", default: "5000" },
      overwrite: { type: "boolean", help: "replace --out, once the new export is complete" },
    },
    run: async ({ engine, io }, args, v) => (await import("./commands")).exportRunCommand(await engine(), need(args, "export", "a run id"), io, v),
  }),
  command({
    name: "push",
    usage: [{ line: "push RUN --repo OWNER/NAME", summary: "upload the trained model with its model card to a Hugging Face Hub repo of yours (created unless it exists); resumable, with progress" }],
    options: {
      json,
      repo: { type: "string", value: "OWNER/NAME", help: "the Hub repo, under your user name or an organization you write to (a repo of someone else is refused before anything is sent)" },
      format: { type: "string", value: "F", choices: PUSH_FORMATS, help: "what to upload: the merged model, the LoRA adapter, or a GGUF file (an earlier export of it is reused, else the run is exported first)", default: "safetensors" },
      private: { type: "boolean", help: "create the repo private (an existing public repo is refused, never made private)" },
    },
    run: async ({ engine, io }, args, v) => (await import("./push-command")).pushCommand(await engine(), need(args, "push", "a run id"), io, v),
  }),
  command({
    name: "eval",
    usage: [
      { line: "eval RUN [--against base|RUN2]", summary: "judge the tuned model against its base (or another run) with a local judge: win rate, length-controlled win rate, CIs, lengths, how far the judge can be trusted" },
      { line: "eval --judgments FILE", summary: "re-score judgments made elsewhere (JSONL: id, preference 0..1, model_length, baseline_length): win rate and LC win rate with CIs" },
    ],
    options: { json, against: { type: "string", value: "REF", help: "base or another run", default: "base" }, judgments: { type: "string", value: "FILE", help: "re-score these judgments instead of judging a run" }, ...judging },
    run: async ({ engine, io }, args, v) => {
      const m = await import("./eval-commands");
      if (v.judgments !== undefined) return m.judgmentsCommand(await engine(), v.judgments, io, v);
      return m.evalCommand(await engine(), need(args, "eval", "a run id"), io, v);
    },
  }),
  command({
    name: "bench",
    usage: [
      {
        line: "bench RUN --tasks T1,T2 [--limit N] [--against base]",
        summary: "standard benchmarks (lm-evaluation-harness) on the tuned model and its base: scores ± standard errors and the deltas per task and metric, stored in the run's reports/",
      },
    ],
    options: {
      json,
      tasks: { type: "string", value: "T1,T2", help: "lm-eval task, group or tag names, e.g. mmlu, gsm8k, arc_challenge, hellaswag, ifeval (standard tasks download their data once)" },
      limit: { type: "int", value: "N", help: "at most N documents per task (quicker, noisier)", default: "all" },
      against: { type: "string", value: "base", help: "what the tuned model is compared with", default: "base" },
      "num-fewshot": { type: "int", value: "N", help: "few-shot examples per prompt", default: "each task's own" },
      "chat-template": { type: "boolean", help: "render prompts with the model's chat template" },
      "batch-size": { type: "int", value: "N", help: "requests per forward pass", default: "8 on a CPU, the largest that fits on a GPU" },
      "task-dir": { type: "string", value: "DIR", help: "a folder of your own lm-eval task YAML files, usable by name" },
    },
    run: async ({ engine, io }, args, v) => (await import("./bench-commands")).benchCommand(await engine(), need(args, "bench", "a run id"), io, v),
  }),
  command({
    name: "sweep",
    usage: [
      { line: "sweep CONFIG --grid FIELD=V1,V2… [--grid …]", summary: "train the config at every combination of the settings (or --random N of them), stop weak trials early, and let the judge pick the best" },
      { line: "sweep --resume SWEEP", summary: "go on with an interrupted sweep: finished trials are kept, the cut one resumes from its checkpoint" },
    ],
    options: {
      json,
      verbose: { type: "boolean", short: "v", help: "also print the worker's log lines while following each trial" },
      grid: { type: "string", value: "FIELD=V1,V2", multiple: true, help: "a config field by its dotted name and the values to try, e.g. training.learning_rate=5e-5,1e-4,2e-4 (adds to the config's sweep block)" },
      random: { type: "int", value: "N", help: "train N of the combinations, drawn at random", default: "all of them" },
      seed: { type: "int", value: "S", help: "seed of the random draw", default: "0" },
      "budget-steps": { type: "int", value: "K", help: "train each trial for at most K optimizer steps" },
      "budget-minutes": { type: "number", value: "M", help: "stop the sweep after M minutes; the judge picks among the trials that finished" },
      "early-stop": { type: "string", value: "RULE", choices: ["off", "signals", "val"], help: "stop weak trials after their first quarter: by diverging loss and gradient norm (signals) or by validation loss (val)", default: "signals" },
      parallel: { type: "string", value: "N|auto", help: "trials that train at once: auto, as many as the memory plan says fit in the device's free memory (on a CPU at most one per core); N caps that, 1 trains them one after another", default: "auto" },
      judge: judging.judge,
      prompts: judging.prompts,
      limit: judging.limit,
      "max-tokens": judging["max-tokens"],
      "judge-model": judging["judge-model"],
      resamples: judging.resamples,
      resume: { type: "string", value: "SWEEP", help: "resume this sweep instead of starting one" },
    },
    run: async ({ engine, io }, args, v) => (await import("./sweep-commands")).sweepCommand(await engine(), args[0], io, v),
  }),
  command({
    name: "sweeps",
    usage: [{ line: "sweeps [SWEEP]", summary: "list the sweeps, or show one: its trials, how each ended and why, and the judge's pick" }],
    options: { json },
    run: async ({ engine, io }, args, v) => (await import("./sweep-commands")).sweepsCommand(await engine(), args[0], io, v),
  }),
  command({
    name: "synth",
    usage: [
      {
        line: "synth --method magpie|fewshot|glan --model DIR|RUN --n N --out FILE [--seed S]",
        summary: "synthesize N training rows with a model (magpie: from its chat template alone; fewshot: from --seeds examples; glan: over key concepts of syllabi the model drafts per subject of a taxonomy), filtered, deduplicated and decontaminated, each with its provenance; appends to FILE, a rerun continues",
      },
    ],
    options: {
      json,
      method: { type: "string", value: "M", choices: ["magpie", "fewshot", "glan"], help: "magpie: the model writes instructions from its pre-query template; fewshot: new prompts after k of yours; glan: the model drafts a syllabus per subject of a taxonomy, then instructions over its key concepts" },
      model: { type: "string", value: "DIR|RUN", help: "a model folder, or a finished run (its trained weights)" },
      n: { type: "int", value: "N", help: "rows the output file should hold" },
      out: { type: "string", value: "FILE", help: "JSONL file to append to (a rerun resumes it)" },
      seed: { type: "int", value: "S", help: "candidate i samples with S + i: the same seed writes the same file", default: "0" },
      seeds: { type: "string", value: "FILE", help: "fewshot: your prompts, any dataset file" },
      k: { type: "int", value: "K", help: "fewshot: examples shown per new prompt", default: "3" },
      taxonomy: { type: "string", value: "FILE", help: "glan: a YAML file of disciplines → subjects (→ topics) (copy the bundled one and edit it)", default: "assets/synth/glan-taxonomy.yaml" },
      syllabus: { type: "string", value: "S", choices: ["keep", "draft"], help: "glan: keep: a subject's listed topics are its sessions, the model drafts the syllabus of subjects without; draft: it drafts every subject's (kept in FILE's .syllabus.yaml, reread on a rerun)", default: "keep" },
      "syllabus-tokens": { type: "int", value: "N", help: "glan: longest drafted syllabus in tokens", default: "1024" },
      temperatures: { type: "string", value: "T1,T2", help: "prompt sampling temperatures, used in turn", default: "1.0 (magpie), 0.7,1.0,1.3 (fewshot)" },
      "prompt-tokens": { type: "int", value: "N", help: "longest new prompt in tokens", default: "128" },
      "max-tokens": { type: "int", value: "N", help: "longest answer in tokens", default: "512" },
      "response-temperature": { type: "number", value: "T", help: "answer sampling temperature (0 greedy)", default: "0.7" },
      "top-p": { type: "number", value: "P", help: "nucleus sampling mass", default: "1" },
      filters: { type: "string", value: "F1,F2", help: "filters that drop candidates: empty, truncated, repeated, refusal (empty always applies)", default: "all" },
      "eval-prompts": { type: "string", value: "FILE", help: "drop rows whose prompt overlaps these evaluation prompts (n-grams)" },
      "eval-run": { type: "string", value: "RUN", help: "drop rows overlapping this run's held-out split" },
      ngram: { type: "int", value: "N", help: "decontamination: words in a shared run", default: "8" },
      "max-candidates": { type: "int", value: "N", help: "candidates tried before giving up", default: "5 N + 20" },
      responses: { type: "int", value: "N", help: "answers per prompt; 2 or more: the local judge picks (response j from source j mod sources)", default: "one per source" },
      "response-temperatures": { type: "string", value: "T1,T2", help: "answer temperatures, each a response source with each model" },
      responders: { type: "string", value: "DIR|RUN,…", help: "other model folders or runs that also answer every prompt" },
      select: { type: "string", value: "S", choices: ["sft", "pairs"], help: "with 2+ responses: sft writes the best answer; pairs writes prompt/chosen/rejected (best vs worst) for dpo", default: "sft" },
      "min-margin": { type: "number", value: "M", help: "pairs: drop pairs whose best and worst judge scores differ by less", default: "0.1" },
      judge: judging.judge,
      "judge-model": judging["judge-model"],
    },
    run: async ({ engine, io }, _args, v) => (await import("./synth-command")).synthCommand(await engine(), io, v),
  }),
  command({
    name: "rounds",
    usage: [
      { line: "rounds CONFIG [--rounds R]", summary: "ALMA's loop: each round synthesizes data with the current model, trains on it from the previous round (lineage), and is judged against the base and the previous round; stops when a round stops winning" },
      { line: "rounds --resume ID", summary: "go on with interrupted rounds: the synthesis continues, a cut run resumes, a cut evaluation is redone" },
      { line: "rounds [--show ID]", summary: "list the rounds, or show one: each round's run, rows and LC win rates, and why it stopped" },
    ],
    options: {
      json,
      verbose: { type: "boolean", short: "v", help: "also print the worker's log lines while following each run" },
      rounds: { type: "int", value: "R", help: "rounds at most (over the config's rounds block)", default: "3" },
      judge: judging.judge,
      prompts: { type: "string", value: "FILE", help: "the prompts every round is judged on", default: "the config's data.validation" },
      limit: judging.limit,
      "max-tokens": judging["max-tokens"],
      "stop-threshold": { type: "number", value: "P", help: "go on while a round's LC win rate against the previous round (round 1: the base) is above P percent", default: "50" },
      dpo: { type: "boolean", help: "after each round's SFT run, train a DPO run on the judge's best-vs-worst answers (needs 2+ responses per prompt in the synth options)" },
      resume: { type: "string", value: "ID", help: "resume these rounds instead of starting new ones" },
      show: { type: "string", value: "ID", help: "show these rounds" },
    },
    run: async ({ engine, io }, args, v) => (await import("./rounds-command")).roundsCommand(await engine(), args[0], io, v),
  }),
  command({
    name: "compare",
    usage: [{ line: "compare RUN RUN…", summary: "judge runs against their bases and each other, rank them, mark the best" }],
    options: { json, ...judging },
    run: async ({ engine, io }, args, v) => (await import("./eval-commands")).compareCommand(await engine(), args, io, v),
  }),
  command({
    name: "merge",
    usage: [{ line: "merge RUN… --method soup|greedy-soup|dare", summary: "merge runs of one base model into a new run (model soup, greedy soup kept by the judge, DARE with --p), with lineage" }],
    options: {
      json,
      method: { type: "string", value: "M", choices: MERGE_METHODS, help: "how to merge (greedy-soup takes the judging options)" },
      p: { type: "number", value: "P", help: "dare: fraction of each delta dropped, 0 ≤ p < 1", default: "0.5" },
      name: { type: "string", value: "NAME", help: "name of the new run", default: "<method>-of-<n>" },
      ...judging,
    },
    run: async ({ engine, io }, args, v) => (await import("./eval-commands")).mergeCommand(await engine(), args, io, v),
  }),
  command({
    name: "data check",
    usage: [{ line: "data check FILE", summary: "can this dataset train? format, schema, every problem with its line, statistics (token lengths with --model); exits 1 on errors" }],
    options: {
      ...dataSource,
      method: { type: "string", value: "M", choices: METHODS, help: "check it for this method", default: "the report names the methods the data trains" },
      "skip-invalid": { type: "boolean", help: "the valid rows are what trains: skipped rows are listed, not errors" },
    },
    run: async ({ engine, io }, args, v) => (await import("./data-commands")).dataCheckCommand(await engine(), args[0], io, v),
  }),
  command({
    name: "data preview",
    usage: [{ line: "data preview FILE --model DIR --index N", summary: "one sample through the chat template, trained and dropped tokens marked" }],
    options: {
      ...dataSource,
      index: { type: "int", value: "N", help: "which record, 0-based", default: "0" },
      goldfish: { type: "string", value: "G", help: "mark goldfish drops: hashed, static, random, off, or k=4,h=13,variant=hashed", default: "the config's" },
    },
    run: async ({ engine, io }, args, v) => (await import("./data-commands")).dataPreviewCommand(await engine(), args[0], io, v),
  }),
  command({
    name: "doctor",
    usage: [{ line: "doctor", summary: "this machine: torch build, GPUs, bf16, FlashAttention/QLoRA/Liger, disk; every problem with the command that fixes it" }],
    options: { json },
    run: async ({ engine, io }, _args, v) => (await import("./machine-commands")).doctorCommand(await engine(), io, v),
  }),
  command({
    name: "setup",
    usage: [{ line: "setup [--cuda|--cpu|--rocm|--mps]", summary: "(re)install the worker's Python packages with that torch build" }],
    options: { cuda: torch("CUDA (NVIDIA)"), cpu: torch("CPU-only"), rocm: torch("ROCm (AMD, Linux)"), mps: torch("Apple silicon (MPS)") },
    run: async ({ io }, _args, v) => (await import("./machine-commands")).setupCommand(io, v),
  }),
  command({
    name: "models list",
    usage: [{ line: "models list", summary: "the model catalog: size, licence, what fits here, what is cached" }],
    options: { json },
    run: async ({ engine, io }, _args, v) => (await import("./machine-commands")).modelsListCommand(await engine(), io, v),
  }),
  command({
    name: "models pull",
    usage: [{ line: "models pull ID", summary: "download a model (or --dataset) from the Hugging Face Hub into its cache (resumable, verified); then model.path: ID" }],
    options: { json, dataset: { type: "boolean", help: "the id is a dataset" }, revision: { type: "string", value: "R", help: "branch, tag or commit", default: "main" } },
    run: async ({ engine, io }, args, v) => (await import("./machine-commands")).modelsPullCommand(await engine(), args[0], io, v),
  }),
  command({
    name: "models login",
    usage: [{ line: "models login", summary: "keep the Hugging Face token in the OS keychain (gated models)" }],
    options: {},
    run: async ({ io }) => (await import("./machine-commands")).loginCommand(io),
  }),
  command({
    name: "models logout",
    usage: [{ line: "models logout", summary: "remove the Hugging Face token from the OS keychain" }],
    options: {},
    run: async ({ io }) => (await import("./machine-commands")).logoutCommand(io),
  }),
  command({
    name: "serve",
    usage: [{ line: "serve", summary: "serve the engine API on a loopback port (token-guarded)" }],
    options: { port: { type: "int", value: "N", help: "port", default: "a free one" }, host: { type: "string", value: "H", help: "address to bind", default: "127.0.0.1" } },
    run: async ({ engine, io }, _args, v) => (await import("./commands")).serveCommand(await engine(), io, v),
  }),
  command({
    name: "config",
    usage: [{ line: "config", summary: "print every config field with its default and help" }],
    options: {},
    run: async ({ io }) => {
      io.out.write((await import("./commands")).configReference() + "\n");
      return 0;
    },
  }),
];
