/**
 * Export through the engine and the CLI on a real tiny run, each file checked in an independent
 * runtime against PyTorch (base + adapter through PEFT): the GGUF in llama.cpp (node-llama-cpp),
 * the ONNX folder in onnxruntime-node and transformers.js; the ollama Modelfile's template against
 * transformers' apply_chat_template.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { exportsPath } from "../../../engine/export/export";
import { PROJECT_ROOT } from "../../../engine/paths";
import { ensureTinyModel, tempHome, tinyConfig } from "../../helpers/fixture";
import { workerPythonOutput } from "../../helpers/python";

const PROMPT = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
const GENERATE = 6;
// base + adapter in PyTorch (float32): the prompt's ids, every position's logits, and the greedy continuation.
const REFERENCE = `
import json, sys, torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer
base, adapter, prompt, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
tokenizer = AutoTokenizer.from_pretrained(base)
model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), adapter).eval()
ids = tokenizer(prompt)["input_ids"]
with torch.no_grad():
    logits = model(torch.tensor([ids])).logits[0]
    out = model.generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False, eos_token_id=None, pad_token_id=0)
print(json.dumps({"ids": ids, "logits": logits.tolist(), "greedy": out[0, len(ids):].tolist(), "template": tokenizer.chat_template}))
`;

interface Reference {
  ids: number[];
  logits: number[][];
  greedy: number[];
  template: string;
}

let engine: Engine;
let runId: string;
let ref: Reference;
const outRoot = mkdtempSync(join(tmpdir(), "whetstone-export-"));

beforeAll(async () => {
  const model = ensureTinyModel();
  engine = new Engine({ home: tempHome() });
  const run = await engine.createRun({ config: tinyConfig({ training: { max_steps: 6, learning_rate: 1e-2 } }) });
  runId = run.id;
  const done = await engine.waitForRun(runId);
  expect(done.state).toBe("completed");
  const stdout = await workerPythonOutput(["-c", REFERENCE, model, done.outputs.adapter!, PROMPT, String(GENERATE)]);
  ref = JSON.parse(stdout) as Reference;
});

function maxDiff(rows: ArrayLike<number>[], expected: number[][]): number {
  let worst = 0;
  expected.forEach((row, i) => row.forEach((x, j) => (worst = Math.max(worst, Math.abs(rows[i]![j]! - x)))));
  return worst;
}

describe("export", () => {
  it("writes a merged safetensors folder with a card from the run, records it, and refuses to overwrite", async () => {
    const out = join(outRoot, "merged");
    const record = await engine.exportRun({ id: runId, format: "safetensors", out, shardSizeMb: 1 });
    expect(record.out_dir).toBe(out);
    expect(record.dtype).toBe("float32"); // the fixture's config says float32
    const files = record.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(["model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "README.md"]));
    const manifest = JSON.parse(readFileSync(join(engine.store.runDir(runId), "data", "manifest.json"), "utf8"));
    const card = readFileSync(join(out, "README.md"), "utf8");
    for (const fact of [manifest.source_sha256, "tiny-chat.jsonl", "tiny-llama", "| lora.r | 4 |", "final_loss", "learning_rate"]) expect(card).toContain(fact);
    expect(JSON.parse(readFileSync(exportsPath(engine.store, runId), "utf8"))).toEqual([record]);
    expect(engine.getExports({ id: runId })).toEqual([record]);
    await expect(engine.exportRun({ id: runId, format: "safetensors", out })).rejects.toMatchObject({ code: "EXPORT_EXISTS", message: expect.stringContaining(out) });
  });

  it("`whetstone export RUN --format gguf --quant q8_0`: llama.cpp loads it, tokenizes and computes logits like PyTorch, and generates", async () => {
    const out = join(outRoot, "gguf-q8");
    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), "export", runId, "--format", "gguf", "--quant", "q8_0", "--out", out], {
      env: { ...process.env, WHETSTONE_HOME: engine.store.home },
      encoding: "utf8",
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`as gguf q8_0 to ${out}`);
    expect(r.stdout).toContain("model-q8_0.gguf");
    const f32 = await engine.exportRun({ id: runId, format: "gguf", quantization: "f32", out: join(outRoot, "gguf-f32") });

    const { getLlama } = await import("node-llama-cpp");
    const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
    const tolerance = { f32: 1e-2, q8_0: 0.25 }; // measured about 2e-3 and 6e-2 (llama.cpp keeps its KV cache in f16)
    for (const [quant, file] of [["q8_0", join(out, "model-q8_0.gguf")], ["f32", join(f32.out_dir, "model-f32.gguf")]] as const) {
      const model = await llama.loadModel({ modelPath: file });
      expect(model.fileInfo.metadata.tokenizer.chat_template).toBe(ref.template);
      expect(model.fileInfo.metadata.general.architecture).toBe("llama");
      const tokens = model.tokenize(PROMPT, true);
      expect([...tokens]).toEqual(ref.ids);
      const context = await model.createContext({ contextSize: 256 });
      const scored = await context.getSequence().controlledEvaluate(tokens.map((t) => [t, { generateNext: { logits: true } }]));
      const rows = scored.map((s) => {
        const row = new Array<number>(ref.logits[0]!.length);
        for (const [token, value] of s!.next.logits!) row[token] = value;
        return row;
      });
      const diff = maxDiff(rows, ref.logits);
      console.log(`gguf ${quant}: max |logit - base+adapter| in llama.cpp = ${diff.toExponential(2)}`);
      expect(diff).toBeLessThan(tolerance[quant]);
      await context.dispose();

      const generation = await model.createContext({ contextSize: 256 });
      const generated: number[] = [];
      for await (const token of generation.getSequence().evaluate(tokens, { yieldEogToken: true })) {
        generated.push(token);
        if (generated.length === GENERATE) break;
      }
      expect(generated.length).toBe(GENERATE);
      if (quant === "f32") expect(generated).toEqual(ref.greedy);
      await generation.dispose();
      await model.dispose();
    }
  });

  it("`whetstone export RUN --format ollama`: the Modelfile's TEMPLATE, read from disk, renders like apply_chat_template and the GGUF loads in llama.cpp", async () => {
    const out = join(outRoot, "ollama");
    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), "export", runId, "--format", "ollama", "--out", out], {
      env: { ...process.env, WHETSTONE_HOME: engine.store.home },
      encoding: "utf8",
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`as ollama f16 to ${out}`);
    expect(readdirSync(out).sort()).toEqual(["Modelfile", "README.md", "model-f16.gguf"]);
    const modelfile = readFileSync(join(out, "Modelfile"), "utf8");
    expect(modelfile).toContain("FROM ./model-f16.gguf\n");
    expect(modelfile).toContain('PARAMETER stop "<|im_end|>"');

    // Five conversations of this test's own, rendered by the Modelfile's template (Go template
    // renderer, with the values Ollama's server passes) and by transformers from the base model.
    const conversations = [
      [{ role: "user", content: "What is the capital of France?" }],
      [{ role: "system", content: "Answer briefly." }, { role: "user", content: "2 + 2?" }],
      [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello!" }, { role: "user", content: "A haiku, please." }],
      [{ role: "system", content: "You are terse.\nVery terse." }, { role: "user", content: "Why?" }, { role: "assistant", content: "Because." }, { role: "user", content: "Ok {{ .Content }}" }],
      [{ role: "user", content: "ünïcödé 🚀" }, { role: "assistant", content: "```\ncode\n```" }, { role: "user", content: "more" }, { role: "assistant", content: "done" }, { role: "user", content: "bye" }],
    ];
    const script = `
import json, re, sys
from transformers import AutoTokenizer
from whetstone_worker.jobs.export.gotemplate import render
from whetstone_worker.jobs.export.ollama_template import ollama_messages, ollama_values
modelfile, model, conversations = open(sys.argv[1], encoding="utf-8").read(), sys.argv[2], json.loads(sys.argv[3])
template = re.search(r'^TEMPLATE """(.*?)"""$', modelfile, re.S | re.M).group(1)
system = re.search(r'^SYSTEM "(.*)"$', modelfile, re.M)
tokenizer = AutoTokenizer.from_pretrained(model)
print(json.dumps([[render(template, ollama_values(ollama_messages(c, system and system.group(1)))),
                   tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)] for c in conversations]))
`;
    const stdout = await workerPythonOutput(["-c", script, join(out, "Modelfile"), ensureTinyModel(), JSON.stringify(conversations)]);
    const pairs = JSON.parse(stdout) as [string, string][];
    expect(pairs).toHaveLength(5);
    for (const [ollama, jinja] of pairs) expect(ollama).toBe(jinja);
    expect(pairs[0]![0]).toBe(PROMPT);

    const { getLlama } = await import("node-llama-cpp");
    const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
    const model = await llama.loadModel({ modelPath: join(out, "model-f16.gguf") });
    expect([...model.tokenize(pairs[0]![0], true)]).toEqual(ref.ids);
    await model.dispose();
  });

  it("a SentencePiece-style tokenizer (Llama 2, Mistral) tokenizes in llama.cpp exactly as in transformers", async () => {
    const texts = ["Hello world", "The capital of France is Paris.", "naïve café 🚀 x\ny", "  two  spaces\t", "[user] 42 + 7</s>"];
    const script = `
import json, sys
from pathlib import Path
sys.path.insert(0, "tests")
from export_fixtures import command, make_spm_model, run_export
from transformers import AutoTokenizer
root = Path(sys.argv[1])
model = make_spm_model(root / "model")
run_export(command(model, model, root / "gguf", fmt="gguf", tuned_kind="model", quantization="f16"))
tokenizer = AutoTokenizer.from_pretrained(str(model))
print(json.dumps([tokenizer(t)["input_ids"] for t in json.loads(sys.argv[2])]))`;
    const root = join(outRoot, "spm");
    const expected = JSON.parse(await workerPythonOutput(["-c", script, root, JSON.stringify(texts)])) as number[][];
    const { getLlama } = await import("node-llama-cpp");
    const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
    const model = await llama.loadModel({ modelPath: join(root, "gguf", "model-f16.gguf") });
    expect(model.fileInfo.metadata.tokenizer.ggml.model).toBe("llama");
    const got = texts.map((t) => [...(model.tokens.shouldPrependBosToken ? [model.tokens.bos!] : []), ...model.tokenize(t, true)]);
    expect(got).toEqual(expected);
    expect(model.detokenize(model.tokenize(texts[2]!, true))).toBe(texts[2]);
    await model.dispose();
  });

  it("writes an ONNX folder that onnxruntime-node runs with PyTorch's logits and transformers.js generates from", async () => {
    const out = join(outRoot, "onnx");
    const record = await engine.exportRun({ id: runId, format: "onnx", out });
    expect(record.checks.onnx_max_abs_logit_diff).toBeLessThan(1e-4);
    expect(existsSync(join(out, "onnx", "model.onnx"))).toBe(true);

    const ort = await import("onnxruntime-node");
    const session = await ort.InferenceSession.create(join(out, "onnx", "model.onnx"));
    const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
    const n = ref.ids.length;
    const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {
      input_ids: new ort.Tensor("int64", BigInt64Array.from(ref.ids.map(BigInt)), [1, n]),
      attention_mask: new ort.Tensor("int64", new BigInt64Array(n).fill(1n), [1, n]),
      position_ids: new ort.Tensor("int64", BigInt64Array.from(ref.ids.map((_, i) => BigInt(i))), [1, n]),
    };
    for (const name of session.inputNames.filter((x) => x.startsWith("past_key_values"))) {
      feeds[name] = new ort.Tensor("float32", new Float32Array(0), [1, config.num_key_value_heads, 0, config.head_dim]);
    }
    const logits = (await session.run(feeds)).logits!;
    const vocab = config.vocab_size as number;
    const data = logits.data as Float32Array;
    const rows = ref.ids.map((_, i) => data.subarray(i * vocab, (i + 1) * vocab));
    const diff = maxDiff(rows, ref.logits);
    console.log(`onnx: max |logit - base+adapter| in onnxruntime-node = ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(1e-4);

    const { AutoModelForCausalLM, AutoTokenizer, env } = await import("@huggingface/transformers");
    env.allowRemoteModels = false;
    env.localModelPath = outRoot;
    const tokenizer = await AutoTokenizer.from_pretrained("onnx");
    const text = tokenizer.apply_chat_template([{ role: "user", content: "What is the capital of France?" }], { tokenize: false, add_generation_prompt: true });
    expect(text).toBe(PROMPT);
    const model = await AutoModelForCausalLM.from_pretrained("onnx", { device: "cpu" });
    const inputs = tokenizer(text as string);
    const generated = (await model.generate({ ...inputs, max_new_tokens: GENERATE, do_sample: false, eos_token_id: -1 } as never)) as { tolist(): bigint[][] };
    expect(generated.tolist()[0]!.slice(n).map(Number)).toEqual(ref.greedy);
    await model.dispose();
  });

  it("a cancelled export leaves no folder and no record; the CLI refuses unknown options", async () => {
    const out = join(outRoot, "cancelled");
    const before = readFileSync(exportsPath(engine.store, runId), "utf8");
    const pending = engine.exportRun({ id: runId, format: "onnx", out });
    await new Promise<void>((resolve) => engine.events.on("event", (e) => e.type === "progress" && e.runId === runId && resolve()));
    expect(await engine.call("cancelTask", { id: runId, kind: "export" })).toEqual({ cancelled: true });
    await expect(pending).rejects.toMatchObject({ code: "CANCELLED" });
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(outRoot).filter((f) => f.includes("cancelled"))).toEqual([]);
    expect(readFileSync(exportsPath(engine.store, runId), "utf8")).toBe(before);

    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), "export", runId, "--format", "tflite", "--out", out], {
      env: { ...process.env, WHETSTONE_HOME: engine.store.home },
      encoding: "utf8",
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("--format must be one of safetensors, adapter, gguf, ollama, onnx");
  });
});
