/**
 * The model card's facts for the front matter the hub reads: the base model's hub id and licence (its
 * own card's front matter, else the catalog's entry), the hub datasets it trained on, and the judge's
 * verdict when the run was evaluated; nothing when nobody knows. On a finished tiny run whose base and
 * data are laid out as the Hugging Face cache lays out a pulled model and dataset.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RunStore } from "../../../engine/runs/store";
import { cardFacts } from "../../../engine/export/card-facts";
import { loadCatalog } from "../../../engine/models/catalog";
import { TINY_DATA, TINY_MODEL } from "../../helpers/fixture";
import { tinyRuns } from "../eval/tiny-runs";

describe("card facts", () => {
  it("name the hub base, its licence, the hub datasets and the judge's verdict, and leave out what is unknown", async () => {
    const { home, ids } = await tinyRuns();
    const store = new RunStore(home);
    const runId = ids[0]!;
    const plain = cardFacts(store, runId);
    expect(plain.base_model_name).toBe("tiny-llama");
    expect(plain).not.toHaveProperty("license");
    expect(plain).not.toHaveProperty("datasets");
    expect(plain.evaluation).toBeUndefined();

    // The same run, its base and data as pulled into the Hugging Face cache.
    const hub = join(home, "hf", "hub");
    const base = join(hub, "models--Qwen--Qwen2.5-0.5B-Instruct", "snapshots", "abc123");
    const data = join(hub, "datasets--fake-org--tiny-chat", "snapshots", "def456", "train.jsonl");
    cpSync(TINY_MODEL, base, { recursive: true });
    mkdirSync(join(data, ".."), { recursive: true });
    cpSync(TINY_DATA, data);
    const configPath = join(store.runDir(runId), "config.json");
    const config = JSON.parse(readFileSync(configPath, "utf8"));
    writeFileSync(configPath, JSON.stringify({ ...config, model: { ...config.model, path: base }, data: { ...config.data, train: data } }));
    const fromCatalog = cardFacts(store, runId);
    expect(fromCatalog.base_model_name).toBe("Qwen/Qwen2.5-0.5B-Instruct");
    expect(fromCatalog.license).toBe(loadCatalog().find((m) => m.id === "Qwen/Qwen2.5-0.5B-Instruct")!.license);
    expect(fromCatalog.datasets).toEqual(["fake-org/tiny-chat"]);

    // The base model's own card wins over the catalog; "other" licences keep their name and link.
    writeFileSync(join(base, "README.md"), "---\nlicense: other\nlicense_name: tiny-licence\nlicense_link: https://example.org/licence\ntags: [chat]\n---\n# Tiny\n");
    const fromCard = cardFacts(store, runId);
    expect([fromCard.license, fromCard.license_name, fromCard.license_link]).toEqual(["other", "tiny-licence", "https://example.org/licence"]);

    // The judge's verdict against the base, from the run's stored report.
    const summary = { n: 20, win_rate: 0.625, win_rate_ci: [0.45, 0.8], lc_win_rate: 0.6, lc_win_rate_ci: [0.4, 0.78], wins: 12, losses: 7, ties: 1, avg_length_model: 80, avg_length_baseline: 70 };
    mkdirSync(join(store.runDir(runId), "reports"), { recursive: true });
    writeFileSync(join(store.runDir(runId), "reports", "eval-base.json"), JSON.stringify({ run_id: runId, created_at: "2026-12-02T00:00:00Z", model: { label: "tuned" }, baseline: { label: "base" }, summary, per_prompt: [], judge: { name: "tiny-judge" } }));
    expect((cardFacts(store, runId).evaluation as { judge: unknown }).judge).toEqual({
      against: "the base model", prompts: 20, judge: "tiny-judge", win_rate: 0.625, win_rate_ci: [0.45, 0.8], lc_win_rate: 0.6, lc_win_rate_ci: [0.4, 0.78], wins: 12, ties: 1, losses: 7,
    });
  });
});
