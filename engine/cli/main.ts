/** `whetstone` entry point: parses arguments and wires commands to an engine. */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { Engine } from "../api/engine";
import { EXPORT_DTYPES, EXPORT_FORMATS, GGUF_QUANTIZATIONS } from "../export/schema";
import { WhetstoneError } from "../util/errors";
import { WorkerProcess } from "../supervisor/worker-process";
import { VERSION } from "../version";
import { dataCommand } from "./data-commands";
import { compareCommand, evalCommand, judgmentsCommand, mergeCommand } from "./eval-commands";
import { doctorCommand, modelsCommand, planCommand, setupCommand } from "./machine-commands";
import { EXIT, auditCommand, cancelCommand, exportRunCommand, configReference, resumeCommand, runsCommand, serveCommand, showCommand, trainCommand, type Io } from "./commands";

const HELP = `whetstone ${VERSION}: fine-tune a language model on this machine

Usage:
  whetstone train CONFIG        start a run from a YAML/JSON config and follow it
  whetstone runs                list runs
  whetstone show RUN            a run's state, config, metrics, checkpoints and log
  whetstone resume RUN          continue an interrupted or cancelled run from its last checkpoint
  whetstone cancel RUN          stop a run (it writes a checkpoint first)
  whetstone audit RUN           memorization audit: does the tuned model reproduce its training
                                answers? base vs tuned, stored in the run's reports/
  whetstone export RUN --format F --out DIR
                                write the trained model for other tools (merged safetensors,
                                PEFT adapter, GGUF for llama.cpp/Ollama, ONNX for transformers.js)
  whetstone eval RUN [--against base|RUN2]
                                judge the tuned model against its base (or another run) with a
                                local judge: win rate, length-controlled win rate, CIs, lengths,
                                how far the judge can be trusted
  whetstone eval --judgments FILE
                                re-score judgments made elsewhere (JSONL: id, preference 0..1,
                                model_length, baseline_length): win rate and LC win rate with CIs
  whetstone compare RUN RUN…    judge runs against their bases and each other, rank them, mark the best
  whetstone merge RUN… --method soup|greedy-soup|dare
                                merge runs of one base model into a new run (model soup, greedy
                                soup kept by the judge, DARE with --p), with lineage
  whetstone data check FILE     can this dataset train? format, schema, every problem with its line,
                                statistics (token lengths with --model); exits 1 on errors
  whetstone data preview FILE --model DIR --index N
                                one sample through the chat template, trained and dropped tokens marked
  whetstone train CONFIG --plan peak memory and time estimate against this machine, and what to
                                change when it does not fit; nothing is loaded or trained
  whetstone doctor              this machine: torch build, GPUs, bf16, FlashAttention/QLoRA/Liger,
                                disk; every problem with the command that fixes it
  whetstone setup [--cuda|--cpu|--rocm|--mps]
                                (re)install the worker's Python packages with that torch build
  whetstone models list         the model catalog: size, licence, what fits here, what is cached
  whetstone models pull ID      download a model (or --dataset) from the Hugging Face Hub into its
                                cache (resumable, verified); then model.path: ID
  whetstone models login|logout keep the Hugging Face token in the OS keychain (gated models)
  whetstone serve               serve the engine API on a loopback port (token-guarded)
  whetstone config              print every config field with its default and help

Options:
  --json            machine-readable output (train, runs, show, eval)
  --verbose, -v     also print the worker's log lines while following a run
  --samples N       audit: training conversations to probe (default 200)
  --prefix N        audit: answer tokens given after the prompt (default 32)
  --tokens N        audit: answer tokens to reproduce (default 64)
  --seed N          audit: which samples are drawn (default 0)
  --embedding-model DIR  audit: sentence-embedding model folder (default: all-MiniLM-L6-v2 if cached, else the base model)
  --format F        export: safetensors, adapter, gguf or onnx; data: jsonl, json, csv, tsv or parquet
                    (data default: from the extension and content)
  --out DIR         export: folder to create (refused if it exists, unless --overwrite)
  --dtype D         export: bfloat16, float16 or float32 (default: the base model's for safetensors,
                    float32 for adapter and onnx)
  --quant Q         export (gguf): f16 (default), q8_0 or f32
  --shard-size MB   export (safetensors): largest weights file in MB (default 5000)
  --overwrite       export: replace --out, once the new export is complete
  --against REF     eval: base (default) or another run
  --prompts FILE    eval, compare: prompts (.txt a line each, JSONL of {messages} or {prompt}, any
                    dataset file; default: the run's held-out split)
  --judge PATH|URL  eval, compare: a local ONNX judge folder or an OpenAI-compatible server URL
                    (default: a small instruct model, downloaded once into the data folder)
  --judge-model M   eval, compare: model name to ask an OpenAI-compatible judge for
  --limit N         eval, compare: at most N prompts (default 200)
  --max-tokens N    eval, compare: longest answer in tokens (default 256)
  --temperature T   eval, compare: 0 greedy (default), above 0 sampling; --top-p P, --seed N
  --resamples N     eval, compare: bootstrap resamples for the CIs (default 1000)
  --method M        merge: soup, greedy-soup (judge flags apply) or dare; data check: sft, dpo,
                    simpo, orpo or kto (without it, the report names the methods the data trains)
  --p P             merge (dare): fraction of each delta dropped, 0 ≤ p < 1 (default 0.5)
  --name NAME       merge: name of the new run (default <method>-of-<n>)
  --model DIR       data: the base model whose tokenizer and chat template are used
  --config CONFIG   data: take the file, model and data settings from a run config
  --schema S        data: chat, sharegpt, alpaca, prompt_completion, text or preference (default: detected)
  --columns A=B,…   data: map source columns onto fields, e.g. question=prompt,answer=completion
  --roles A=B,…     data: map role names onto roles, e.g. human=user,bot=assistant
  --max-length N    data: longest sample in tokens (default: the config's, else 1024)
  --overlong P      data: drop, truncate or error for longer samples
  --index N         data preview: which record, 0-based (default 0)
  --goldfish G      data preview: mark goldfish drops: hashed, static, random, or k=4,h=13,variant=hashed
  --skip-invalid    train, data check: train on the valid rows and list the skipped ones
  --plan            train: print the memory/time estimate and fitting advice, do not train
  --preflight       train: measure one forward+backward step at the configured shape first
                    (automatic when the estimate is near the device's memory)
  --dataset         models pull: the id is a dataset
  --revision R      models pull: branch, tag or commit (default main)
  --port N          serve: port (default: a free one)
  --host H          serve: address to bind (default 127.0.0.1)
  --version         print the version

RUN is a run id, a unique prefix of one, or a run name. Runs live in $WHETSTONE_HOME/runs
(default: the OS app-data folder). Exit codes: 0 completed, 1 failed, 2 bad usage or config,
3 interrupted (resumable), 130 cancelled.`;

export async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: "boolean" },
        verbose: { type: "boolean", short: "v" },
        port: { type: "string" },
        samples: { type: "string" },
        prefix: { type: "string" },
        tokens: { type: "string" },
        seed: { type: "string" },
        "embedding-model": { type: "string" },
        format: { type: "string" },
        out: { type: "string" },
        dtype: { type: "string" },
        quant: { type: "string" },
        "shard-size": { type: "string" },
        overwrite: { type: "boolean" },
        host: { type: "string" },
        model: { type: "string" },
        config: { type: "string" },
        schema: { type: "string" },
        columns: { type: "string" },
        roles: { type: "string" },
        "max-length": { type: "string" },
        overlong: { type: "string" },
        index: { type: "string" },
        goldfish: { type: "string" },
        "skip-invalid": { type: "boolean" },
        against: { type: "string" },
        judgments: { type: "string" },
        prompts: { type: "string" },
        judge: { type: "string" },
        "judge-model": { type: "string" },
        limit: { type: "string" },
        "max-tokens": { type: "string" },
        temperature: { type: "string" },
        "top-p": { type: "string" },
        resamples: { type: "string" },
        method: { type: "string" },
        p: { type: "string" },
        name: { type: "string" },
        plan: { type: "boolean" },
        preflight: { type: "boolean" },
        dataset: { type: "boolean" },
        revision: { type: "string" },
        cuda: { type: "boolean" },
        cpu: { type: "boolean" },
        rocm: { type: "boolean" },
        mps: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean" },
      },
    });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${HELP}\n`);
    return EXIT.usage;
  }
  const { values, positionals } = args;
  const [command, ...rest] = positionals;
  if (values.version) return print(VERSION);
  if (values.help || !command || command === "help") return print(HELP);

  const io = terminalIo();
  const need = (what: string): string => {
    const v = rest[0];
    if (!v) throw new WhetstoneError({ code: "USAGE", message: `\`whetstone ${command}\` needs ${what}.`, hint: "`whetstone help` shows the usage." });
    return v;
  };
  const engine = new Engine();
  try {
    switch (command) {
      case "train":
        if (values.plan) return planCommand(engine, need("a config file"), io, values);
        return await trainCommand(engine, need("a config file"), io, { ...values, preflight: values.preflight ? "always" : "auto" });
      case "doctor":
        return doctorCommand(engine, io, values);
      case "setup":
        return setupCommand(io, values);
      case "models":
        return await modelsCommand(engine, rest, io, values);
      case "resume":
        return await resumeCommand(engine, need("a run id"), io, values);
      case "runs":
        return runsCommand(engine, io, values);
      case "show":
        return showCommand(engine, need("a run id"), io, values);
      case "cancel":
        return await cancelCommand(engine, need("a run id"), io);
      case "audit":
        return await auditCommand(engine, need("a run id"), io, {
          json: values.json,
          samples: intFlag("samples", values.samples),
          prefixTokens: intFlag("prefix", values.prefix),
          continuationTokens: intFlag("tokens", values.tokens),
          seed: intFlag("seed", values.seed),
          embeddingModel: values["embedding-model"] ?? null,
        });
      case "export": {
        const format = choice("format", values.format, EXPORT_FORMATS);
        if (!format || !values.out) throw new WhetstoneError({ code: "USAGE", message: "`whetstone export RUN` needs --format and --out.", hint: "e.g. whetstone export RUN --format gguf --quant q8_0 --out ./my-model-gguf" });
        return await exportRunCommand(engine, need("a run id"), io, {
          json: values.json,
          format,
          out: resolve(values.out),
          dtype: choice("dtype", values.dtype, EXPORT_DTYPES) ?? null,
          quantization: choice("quant", values.quant, GGUF_QUANTIZATIONS) ?? null,
          shardSizeMb: values["shard-size"] === undefined ? undefined : intFlag("shard-size", values["shard-size"]),
          overwrite: values.overwrite ?? false,
        });
      }
      case "eval":
        if (values.judgments !== undefined) return judgmentsCommand(values.judgments, io, values);
        return await evalCommand(engine, need("a run id"), io, values);
      case "compare":
        return await compareCommand(engine, rest, io, values);
      case "merge":
        return await mergeCommand(engine, rest, io, values);
      case "serve":
        return await serveCommand(engine, io, { port: values.port ? Number(values.port) : undefined, host: values.host });
      case "config":
        return print(configReference());
      case "data":
        return await dataCommand(engine, rest, io, values);
      default:
        process.stderr.write(`Unknown command '${command}'.\n\n${HELP}\n`);
        return EXIT.usage;
    }
  } catch (e) {
    if (e instanceof WhetstoneError) {
      process.stderr.write(e.format() + "\n");
      return e.code === "USAGE" || e.code.startsWith("CONFIG") || e.code.startsWith("MODEL") || e.code.startsWith("DATA") ? EXIT.usage : EXIT.failed;
    }
    throw e;
  }
}

function intFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new WhetstoneError({ code: "USAGE", message: `--${name} must be a whole number, got '${value}'.`, hint: "`whetstone help` shows the usage." });
  return n;
}

function choice<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new WhetstoneError({ code: "USAGE", message: `--${name} must be one of ${allowed.join(", ")}, got '${value}'.`, hint: "`whetstone help` shows the usage." });
  return value as T;
}

function print(text: string): number {
  process.stdout.write(text + "\n");
  return EXIT.ok;
}

function terminalIo(): Io {
  let interrupts = 0;
  const handlers: (() => void)[] = [];
  // The worker has its own process group, so these signals reach the CLI only: the first asks the
  // run to checkpoint and stop; a second one stops the worker at once (losing the steps since its
  // last checkpoint) and quits.
  const interrupt = (code: number) => () => {
    interrupts++;
    if (interrupts > 1 || handlers.length === 0) {
      if (WorkerProcess.killAll("SIGKILL") > 0) {
        process.stderr.write("\nStopped at once: the worker was killed without a checkpoint; `whetstone resume RUN` continues from its last one.\n");
      }
      process.exit(code);
    }
    for (const h of handlers) h();
  };
  process.on("SIGINT", interrupt(EXIT.cancelled));
  process.on("SIGTERM", interrupt(143));
  return {
    out: { isTTY: Boolean(process.stdout.isTTY), columns: process.stdout.columns, write: (t) => void process.stdout.write(t) },
    err: (t) => void process.stderr.write(t),
    onInterrupt: (h) => void handlers.push(h),
  };
}
