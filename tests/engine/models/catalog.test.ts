/** The model catalog: accurate architecture numbers (the estimator reproduces each published count), and the listing. */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { listModels, loadCatalog } from "../../../engine/models/catalog";
import { cachedSnapshot, isHubId, listCached, resolveHubModel } from "../../../engine/models/hub";
import { countParameters, shapeFromConfig } from "../../../engine/plan/estimate";

describe("model catalog", () => {
  const catalog = loadCatalog();

  it("covers the families asked for, each entry complete", () => {
    const ids = catalog.map((m) => m.id);
    for (const id of ["Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-7B", "meta-llama/Llama-3.2-1B-Instruct", "meta-llama/Llama-3.2-3B", "meta-llama/Llama-3.1-8B-Instruct", "mistralai/Mistral-7B-Instruct-v0.3", "google/gemma-2-2b-it", "HuggingFaceTB/SmolLM2-135M-Instruct", "microsoft/Phi-3.5-mini-instruct"]) {
      expect(ids).toContain(id);
    }
    expect(new Set(ids).size).toBe(ids.length);
    for (const m of catalog) expect(isHubId(m.id), m.id).toBe(true);
    expect(catalog.filter((m) => m.id.startsWith("meta-llama/")).every((m) => m.gated && m.license.startsWith("llama"))).toBe(true);
  });

  it("the estimator's parameter count from the architecture matches each model's published count within 2%", () => {
    for (const m of catalog) {
      const estimated = countParameters(shapeFromConfig(m.architecture));
      expect(Math.abs(estimated - m.parameters) / m.parameters, m.id).toBeLessThan(0.02);
    }
  });

  it("lists fits per method for a device, and what is cached", () => {
    const home = mkdtempSync(join(tmpdir(), "whetstone-hf-"));
    const env = { HF_HOME: home };
    const snap = join(home, "hub", "models--Qwen--Qwen2.5-0.5B-Instruct", "snapshots", "a".repeat(40));
    mkdirSync(snap, { recursive: true });
    writeFileSync(join(snap, "config.json"), "{}");
    mkdirSync(join(home, "hub", "models--Qwen--Qwen2.5-0.5B-Instruct", "refs"));
    writeFileSync(join(home, "hub", "models--Qwen--Qwen2.5-0.5B-Instruct", "refs", "main"), "a".repeat(40));
    const gpu24 = listModels({ kind: "cuda", name: "RTX 4090", memoryBytes: 24 * 2 ** 30 }, env, catalog);
    const qwen = gpu24.find((m) => m.id === "Qwen/Qwen2.5-0.5B-Instruct")!;
    expect(qwen.cached).toBe(snap);
    expect(qwen.fits.lora!.fits).toBe(true);
    const llama8 = gpu24.find((m) => m.id === "meta-llama/Llama-3.1-8B-Instruct")!;
    expect(llama8.cached).toBeNull();
    expect(llama8.fits.full!.fits).toBe(false); // 8B full fine-tuning: 16 bytes per parameter before activations
    expect(llama8.fits["lora+checkpointing"]!.bytes).toBeLessThan(llama8.fits.lora!.bytes);
    // The Full column is at LoRA's settings (no checkpointing), so it never reads as cheaper than LoRA.
    for (const m of gpu24) {
      expect(m.fits.full!.bytes, m.id).toBeGreaterThan(m.fits.lora!.bytes);
      expect(m.fits["full+checkpointing"]!.bytes, m.id).toBeLessThan(m.fits.full!.bytes);
    }
    expect(listCached(env).map((c) => c.id)).toEqual(["Qwen/Qwen2.5-0.5B-Instruct"]);
    expect(resolveHubModel("Qwen/Qwen2.5-0.5B-Instruct", env)).toBe(snap);
    expect(cachedSnapshot("Qwen/Qwen2.5-7B", "model", env)).toBeNull();
    expect(() => resolveHubModel("Qwen/Qwen2.5-7B", env)).toThrow(expect.objectContaining({ code: "MODEL_NOT_CACHED", hint: expect.stringContaining("whetstone models pull Qwen/Qwen2.5-7B") }));
  });

  it("tells hub ids from paths", () => {
    expect(isHubId("Qwen/Qwen2.5-0.5B")).toBe(true);
    for (const p of ["./models/x", "../x/y", "/abs/path", "models", "a/b/c", "C:\\models\\x"]) expect(isHubId(p), p).toBe(false);
  });
});
