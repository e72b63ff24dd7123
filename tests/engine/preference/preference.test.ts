/** Preference tuning through the real CLI and engine: an example trains with the preference metrics,
 *  a run chains from a finished one (and exports and generates like any run), the effective base of
 *  a run chained from a full model, and data of the wrong kind is refused naming the fields. */
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { auditCommand } from "../../../engine/audit/audit";
import { exportCommand } from "../../../engine/export/export";
import { mergeSources } from "../../../engine/merge/merge";
import { PROJECT_ROOT } from "../../../engine/paths";
import { validateConfig } from "../../../engine/config/load";
import { effectiveBase, resolveInitFrom } from "../../../engine/runs/lineage";
import { RunStore } from "../../../engine/runs/store";
import { ensureTinyModel, nullSettings, tempHome, writeConfig, TINY_MODEL, TINY_DATA } from "../../helpers/fixture";
import { HANG_MS } from "../../helpers/limits";
import { workerPythonOutput } from "../../helpers/python";

const BIN = join(PROJECT_ROOT, "bin", "whetstone.mjs");
const PAIRS = join(PROJECT_ROOT, "examples", "data", "tiny-pairs.jsonl");

function cli(args: string[], home: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, WHETSTONE_HOME: home }, encoding: "utf8", timeout: HANG_MS });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// The chained run's expected model in PyTorch (float32): base + the parent adapter merged + the run's own
// adapter (its last checkpoint); against it, the exported folder's logits and a greedy answer the way the
// worker's generate command decodes (same template, stop tokens and loop).
const REFERENCE = `
import json, sys, torch
from peft import PeftModel
from transformers import AutoModelForCausalLM
from whetstone_worker import modeling
from whetstone_worker.data.chat import render
from whetstone_worker.jobs.generate import decode_batch, stop_token_ids
base, parent, own, exported, question, n = sys.argv[1:7]
load = lambda path: AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
tok = modeling.load_tokenizer(base, False)
ref = PeftModel.from_pretrained(PeftModel.from_pretrained(load(base), parent).merge_and_unload(), own).eval()
ids = tok(render(tok, [{"role": "user", "content": question}], add_generation_prompt=True), add_special_tokens=False)["input_ids"]
with torch.no_grad():
    x = torch.tensor([ids])
    diff = (ref(x).logits - load(exported)(x).logits).abs().max().item()
    moved = (ref(x).logits - load(base)(x).logits).abs().max().item()
    [(new, _)] = decode_batch(ref, [ids], [0], int(n), 0.0, 1.0, set(stop_token_ids(tok, ref)), modeling.pad_id(tok))
print(json.dumps({"diff": diff, "moved": moved, "text": tok.decode(new, skip_special_tokens=True)}))
`;

const runDir = (home: string, out: string) => join(home, "runs", /^run (\S+)/m.exec(out)![1]!);
const metrics = (dir: string) => readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);

beforeAll(() => {
  ensureTinyModel();
});

describe("preference tuning", () => {
  let first: { home: string; dir: string } | undefined;
  let chained: string | undefined;

  it("trains examples/tiny-dpo.yaml with progress and the preference metrics in metrics.jsonl", () => {
    const home = tempHome();
    const r = cli(["train", join(PROJECT_ROOT, "examples", "tiny-dpo.yaml")], home);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/train +1\/\d+ steps +loss [\d.]+ .*ETA \d+:\d\d/);
    expect(r.out).toMatch(/completed: \S+ at step (\d+)\/\1/);
    const dir = runDir(home, r.out);
    first = { home, dir };
    const rows = metrics(dir);
    for (const key of ["loss", "lr", "grad_norm", "tokens_per_s", "rewards/chosen", "rewards/rejected", "rewards/margin", "rewards/accuracy", "logps/chosen", "logps/rejected"]) {
      expect(rows.every((row) => typeof row[key] === "number"), key).toBe(true);
    }
    const last = rows.at(-1)!;
    expect(last["val_rewards/accuracy"]).toBeGreaterThan(0.9);
    expect(last["rewards/margin"]).toBeGreaterThan(rows[0]!["rewards/margin"]!);
    const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    expect(config.preference).toEqual({ ...nullSettings, beta: 0.1, label_smoothing: 0, precompute_reference: false });
    expect(config.training.neftune_alpha).toBe(0); // off by default for preference methods
    const snapshot = JSON.parse(readFileSync(join(dir, "data", "train.jsonl"), "utf8").split("\n")[0]!);
    expect(Object.keys(snapshot)).toEqual(["prompt", "chosen", "rejected"]);
  });

  it("chains a run from a finished one by name and records the lineage", () => {
    // The parent is the DPO run above (an SFT parent works the same way; the worker test chains from SFT).
    expect(first).toBeDefined();
    const child = writeConfig(first!.home, "child.yaml", `method: orpo\ninit_from: tiny-dpo\nmodel:\n  path: ${TINY_MODEL}\ndata:\n  train: ${PAIRS}\n  max_length: 128\nlora: {r: 4, alpha: 8}\ntraining:\n  max_steps: 1\n  packing: false\n`);
    const r = cli(["train", child], first!.home);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const dir = runDir(first!.home, r.out);
    const adapter = join(first!.dir, "outputs", "adapter");
    expect(JSON.parse(readFileSync(join(dir, "status.json"), "utf8")).parent).toEqual({ run: basename(first!.dir), path: adapter, kind: "adapter" });
    expect(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")).init_from).toBe(adapter);
    expect(r.out).toContain(`Loading the model from ${adapter}`);
    chained = dir;
  });

  it("exports the chained run as safetensors equal to base + parent + own adapter, and generates from it", async () => {
    // outputs/adapter holds both updates on model.path, so export, generation and merge need nothing special.
    expect(chained).toBeDefined();
    const { home } = first!;
    const id = basename(chained!);
    const out = join(home, "exported");
    const r = cli(["export", id, "--format", "safetensors", "--out", out], home);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const own = join(chained!, "checkpoints", readdirSync(join(chained!, "checkpoints")).filter((n) => n.startsWith("step-")).sort().at(-1)!, "adapter");
    const question = "What makes a good answer?";
    const args = ["-c", REFERENCE, TINY_MODEL, join(first!.dir, "outputs", "adapter"), own, out, question, "8"];
    const ref = JSON.parse(await workerPythonOutput(args)) as { diff: number; moved: number; text: string };
    expect(ref.moved).toBeGreaterThan(1e-3);
    expect(ref.diff).toBeLessThan(1e-4);
    const engine = new Engine({ home });
    const answer = await engine.generate({ id, prompts: [[{ role: "user", content: question }]], maxNewTokens: 8, temperature: 0 });
    expect(answer.outputs.tuned![0]!.text).toBe(ref.text);
  });

  it("uses a full model a run was chained from as its base for export, audit, evaluation and merge", () => {
    const home = tempHome();
    const store = new RunStore(home);
    const full = join(home, "full-sft");
    cpSync(TINY_MODEL, full, { recursive: true });
    const config = validateConfig({ model: { path: TINY_MODEL }, data: { train: PAIRS }, method: "dpo", init_from: full }, { checkPaths: false, defaultName: "child" });
    const adapter = join(home, "adapter");
    mkdirSync(adapter);
    writeFileSync(join(adapter, "adapter_config.json"), "{}");
    const child = store.update(store.create(config).id, { parent: resolveInitFrom(store, full), state: "completed", outputs: { adapter } }).id;
    const plain = store.update(store.create({ ...config, init_from: null, name: "plain" }).id, { state: "completed", outputs: { adapter } }).id;
    expect(effectiveBase(store, child)).toBe(full);
    expect(effectiveBase(store, plain)).toBe(TINY_MODEL);
    const opts = { format: "safetensors", out: join(home, "out"), dtype: null, quantization: null, shardSizeMb: 1000, overwrite: false } as const;
    expect(exportCommand(store, child, opts)("x")).toMatchObject({ model_path: full });
    expect(auditCommand(store, child, { samples: 1, prefixTokens: 8, continuationTokens: 8, seed: 0, embeddingModel: null })("x")).toMatchObject({ model_path: full });
    expect(() => mergeSources(store, [child, plain])).toThrow(/different base models/);
    // Chaining from the child's adapter: the new run's model.path must be the model that adapter applies to.
    expect(() => resolveInitFrom(store, child, TINY_MODEL)).toThrow(expect.objectContaining({ code: "INIT_FROM_BASE_MISMATCH", hint: `Set model.path to ${full}, or chain from a run trained on ${TINY_MODEL}.` }));
    expect(resolveInitFrom(store, child, full)).toEqual({ run: child, path: adapter, kind: "adapter" });
    expect(resolveInitFrom(store, plain, TINY_MODEL).kind).toBe("adapter");
  });

  it("refuses to chain from a run that has not completed, or from a folder that holds no weights", () => {
    const home = tempHome();
    const store = new RunStore(home);
    const config = validateConfig({ model: { path: TINY_MODEL }, data: { train: PAIRS }, method: "dpo" }, { checkPaths: false, defaultName: "parent" });
    const run = store.create(config);
    expect(() => resolveInitFrom(store, run.id)).toThrow(/init_from: run \S+ is queued and has no final adapter or model/);
    expect(() => resolveInitFrom(store, home)).toThrow(/is neither a LoRA adapter folder \(adapter_config.json\) nor a model folder/);
    expect(resolveInitFrom(store, TINY_MODEL)).toEqual({ run: null, path: TINY_MODEL, kind: "model" });
  });

  it("refuses conversations for dpo and pairs for sft, naming the fields", () => {
    const home = tempHome();
    const dpo = writeConfig(home, "dpo.yaml", `method: dpo\nmodel:\n  path: ${TINY_MODEL}\ndata:\n  train: ${TINY_DATA}\n`);
    const a = cli(["train", dpo], home);
    expect(a.code).not.toBe(0);
    expect(a.err).toContain("DATA_METHOD_MISMATCH");
    expect(a.err).toContain("method dpo trains on preference pairs: each row needs a prompt and a chosen and a rejected answer");
    expect(a.err.split(TINY_DATA).length - 1).toBeLessThanOrEqual(2);
    const sft = writeConfig(home, "sft.yaml", `method: sft\nmodel:\n  path: ${TINY_MODEL}\ndata:\n  train: ${PAIRS}\n`);
    const b = cli(["train", sft], home);
    expect(b.code).not.toBe(0);
    expect(b.err).toContain("DATA_METHOD_MISMATCH");
    expect(b.err).toMatch(/holds preference pairs \(prompt, chosen, rejected\), but method sft trains on conversations \(fields messages/);
  });

  it("fills in each method's defaults and refuses another method's settings", () => {
    const base = { model: { path: TINY_MODEL }, data: { train: PAIRS } };
    const resolve = (extra: Record<string, unknown>) => validateConfig({ ...base, ...extra }, { checkPaths: false });
    expect(resolve({ method: "simpo" }).preference).toEqual({ ...nullSettings, beta: 2, gamma_beta_ratio: 0.5 });
    expect(resolve({ method: "orpo", preference: { lambda: 0.5 }, training: { neftune_alpha: 5 } })).toMatchObject({ preference: { lambda: 0.5, beta: null }, training: { neftune_alpha: 5 } });
    expect(resolve({ method: "sft" }).preference).toBeNull();
    expect(() => resolve({ method: "dpo", preference: { gamma_beta_ratio: 0.5 } })).toThrow(/preference.gamma_beta_ratio is a setting of simpo, not of method dpo/);
    expect(() => resolve({ method: "sft", preference: { beta: 0.1 } })).toThrow(/preference is set but method is sft/);
    expect(() => resolve({ method: "simpo", training: { goldfish: {} } })).toThrow(/training.goldfish applies to an SFT loss term; simpo has none/);
  });
});
