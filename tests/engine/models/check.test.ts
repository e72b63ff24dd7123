/**
 * The wizard's model check, folder browser and starting points against real folders: the tiny
 * fixture model (a complete folder), and temp folders missing one part each.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkModel } from "../../../engine/models/check";
import { listFolders } from "../../../engine/fs/browse";
import { chainableRuns, localModels } from "../../../engine/models/starting-points";
import { RunStore } from "../../../engine/runs/store";
import { ensureTinyModel, tinyConfig } from "../../helpers/fixture";
import { validateConfig } from "../../../engine/config/load";

const byItem = (c: ReturnType<typeof checkModel>) => Object.fromEntries(c.checks.map((x) => [x.item, x])) as Record<string, (typeof c.checks)[number]>;

describe("checkModel", () => {
  it("passes the tiny fixture model and names its architecture", () => {
    const c = checkModel(ensureTinyModel());
    expect(c.ok).toBe(true);
    expect(c.checks.map((x) => x.item)).toEqual(["folder", "config", "weights", "tokenizer", "chat_template"]);
    expect(c.architecture).toBe("LlamaForCausalLM");
  });

  it("says what is missing: no folder, no weights, no tokenizer, an incomplete shard set, an adapter", () => {
    expect(checkModel("/no/such/model").checks).toEqual([expect.objectContaining({ item: "folder", ok: false, detail: "There is no folder at /no/such/model." })]);
    const dir = mkdtempSync(join(tmpdir(), "whetstone-check-"));
    cpSync(ensureTinyModel(), dir, { recursive: true });
    rmSync(join(dir, "model.safetensors"));
    rmSync(join(dir, "tokenizer.json"));
    const c = checkModel(dir);
    expect(c.ok).toBe(false);
    expect(byItem(c).weights).toMatchObject({ ok: false, detail: expect.stringMatching(/no \*\.safetensors/) });
    expect(byItem(c).tokenizer).toMatchObject({ ok: false });
    writeFileSync(join(dir, "model-00001-of-00002.safetensors"), "x");
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: { a: "model-00001-of-00002.safetensors", b: "model-00002-of-00002.safetensors" } }));
    expect(byItem(checkModel(dir)).weights!.detail).toMatch(/1 of the shards .* missing \(model-00002-of-00002\.safetensors\): the download is incomplete/);
    const adapter = mkdtempSync(join(tmpdir(), "whetstone-adapter-"));
    writeFileSync(join(adapter, "adapter_config.json"), "{}");
    const a = checkModel(adapter);
    expect(a).toMatchObject({ ok: false, adapter: true });
    expect(byItem(a).config!.detail).toMatch(/LoRA adapter folder/);
  });

  it("a missing chat template warns but does not block", () => {
    const dir = mkdtempSync(join(tmpdir(), "whetstone-check-"));
    cpSync(ensureTinyModel(), dir, { recursive: true });
    for (const f of ["chat_template.jinja", "chat_template.json"]) rmSync(join(dir, f), { force: true });
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ tokenizer_class: "PreTrainedTokenizerFast" }));
    const c = checkModel(dir);
    expect(byItem(c).chat_template).toMatchObject({ ok: false, required: false });
    expect(c.ok).toBe(true);
  });
});

describe("listFolders", () => {
  it("lists sub-folders only, marks model folders, and refuses paths outside the roots", () => {
    const hf = mkdtempSync(join(tmpdir(), "whetstone-hf-"));
    const env = { HF_HUB_CACHE: hf };
    mkdirSync(join(hf, "b-folder"));
    mkdirSync(join(hf, "a-model"));
    mkdirSync(join(hf, ".hidden"));
    writeFileSync(join(hf, "a-model", "config.json"), "{}");
    writeFileSync(join(hf, "a-file.txt"), "not listed");
    const l = listFolders(hf, env);
    expect(l.folders.map((f) => [f.name, f.model])).toEqual([["a-model", "model"], ["b-folder", null]]);
    expect(l.roots.map((r) => r.label)).toContain("Hugging Face cache");
    expect(l.parent).toBeNull(); // the root itself: nothing above it is shown
    expect(listFolders(join(hf, "a-model"), env)).toMatchObject({ model: "model", parent: hf });
    expect(() => listFolders("/etc", env)).toThrow(expect.objectContaining({ code: "FOLDER_OUTSIDE_ROOTS" }));
    expect(() => listFolders(join(hf, "nope"), env)).toThrow(expect.objectContaining({ code: "FOLDER_NOT_FOUND" }));
    // A link inside a root that points outside every root is refused by where it leads.
    symlinkSync("/etc", join(hf, "escape"));
    expect(() => listFolders(join(hf, "escape"), env)).toThrow(expect.objectContaining({ code: "FOLDER_OUTSIDE_ROOTS" }));
    expect(listFolders(undefined, env).path).toBe(listFolders(homedir(), env).path);
  });
});

describe("starting points", () => {
  it("offers models earlier runs used and completed runs to chain from, with lineage", () => {
    const model = ensureTinyModel();
    const store = new RunStore(mkdtempSync(join(tmpdir(), "whetstone-home-")));
    const config = validateConfig(tinyConfig(), { baseDir: tmpdir() });
    const sft = store.create(config);
    const adapter = join(store.runDir(sft.id), "outputs", "adapter");
    mkdirSync(adapter, { recursive: true });
    writeFileSync(join(adapter, "adapter_config.json"), "{}");
    store.update(sft.id, { state: "completed", outputs: { adapter }, finished_at: new Date().toISOString() });
    const dpo = store.create({ ...config, method: "dpo" });
    store.update(dpo.id, { state: "completed", outputs: { adapter }, parent: { run: sft.id, path: adapter, kind: "adapter" }, finished_at: new Date(Date.now() + 1000).toISOString() });
    store.create(config); // still queued: not a starting point
    expect(localModels(store, { HF_HUB_CACHE: join(tmpdir(), "no-cache-here") })).toEqual([expect.objectContaining({ path: model, source: "recent" })]);
    const runs = chainableRuns(store);
    expect(runs.map((r) => r.id)).toEqual([dpo.id, sft.id]);
    expect(runs[0]).toMatchObject({ kind: "adapter", base: model, lineage: [{ id: sft.id, method: "sft", kind: "adapter" }] });
  });
});
