/**
 * What a model card says about a run (export/card.py in the worker renders it): base, method and
 * hyperparameters, data and its hash, final losses, the judge's verdict against the base and the
 * memorization audit when the run has them, and for the card's front matter the base model's licence
 * (its own README's front matter, else the catalog's entry) and the hub datasets it trained on (data
 * read from the Hugging Face cache). Facts nobody knows are left out, never guessed.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { loadAuditReport } from "../audit/audit";
import { loadEvalReport } from "../eval/stored";
import { loadCatalog } from "../models/catalog";
import { effectiveBase, loadLineage } from "../runs/lineage";
import type { RunStore } from "../runs/store";
import { readJson } from "../util/records";
import { VERSION } from "../version";

/** What the model card says: base, method and hyperparameters, data and its hash, results, audit. */
export function cardFacts(store: RunStore, runId: string): Record<string, unknown> {
  const status = store.get(runId);
  const config = store.config(runId);
  const manifest = readJson(join(store.runDir(runId), "data", "manifest.json")) as Manifest | null;
  const metrics = store.readMetrics(runId);
  const lastVal = [...metrics].reverse().find((m) => typeof m.val_loss === "number");
  const last = metrics.at(-1);
  const audit = loadAuditReport(store, runId) as (Record<string, unknown> & { counts?: { used?: number }; created_at?: string }) | null;
  const judge = judgeFacts(store, runId);
  const datasets = [...new Set([config.data.train, config.data.validation].flatMap((p) => (typeof p === "string" ? (hubRepo(p, "datasets") ?? []) : [])))];
  const { goldfish, ...training } = config.training;
  // The model the weights were trained from: a chained run's parent model, else model.path.
  const base = effectiveBase(store, runId);
  // A merged run trained nothing itself: its card names the merge and its sources, not the first
  // source's training settings (which its stored config carries only for its data snapshot).
  const merge = loadLineage(store, runId) as { method?: string; p?: number; merged_from?: { run_id: string; name?: string }[]; ingredients?: string[] } | null;
  const hyperparameters = merge
    ? { merge: { method: merge.method, ...(merge.p !== undefined ? { p: merge.p } : {}), runs: (merge.ingredients ?? merge.merged_from?.map((m) => m.run_id) ?? []).join(", ") } }
    : {
        ...(config.finetune !== "full" ? { lora: config.lora } : {}),
        ...(config.method !== "sft" && config.preference ? { preference: config.preference } : {}),
        training: { ...training, goldfish: goldfish ?? "off" },
        data: { max_length: config.data.max_length, overlong: config.data.overlong },
      };
  return {
    name: config.name,
    run_id: runId,
    base_model: base,
    base_model_name: hubRepo(base, "models") ?? basename(base),
    method: merge ? "merge" : config.method,
    finetune: merge ? merge.method : config.finetune,
    ...(status.parent ? { chained_from: status.parent.run ?? status.parent.path } : {}),
    hyperparameters,
    dataset: manifest
      ? {
          name: basename(manifest.source),
          sha256: manifest.source_sha256,
          rows: manifest.rows,
          ...(manifest.validation ? { validation: { name: basename(manifest.validation.source), sha256: manifest.validation.source_sha256, rows: manifest.validation.rows } } : {}),
        }
      : { name: basename(config.data.train) },
    metrics: {
      steps: status.step,
      first_loss: status.first_loss,
      final_loss: status.last_loss,
      ...(lastVal ? { validation_loss: lastVal.val_loss, validation_loss_step: lastVal.step } : {}),
      ...(typeof last?.trained_tokens === "number" ? { trained_tokens: last.trained_tokens } : {}),
    },
    ...(judge || audit
      ? {
          evaluation: {
            ...(judge ? { judge } : {}),
            ...(audit ? { audit: { base: audit.base, tuned: audit.tuned, samples: audit.counts?.used ?? null, audited_at: audit.created_at ?? null } } : {}),
          },
        }
      : {}),
    ...baseLicense(base),
    ...(datasets.length ? { datasets } : {}),
    trained_at: status.finished_at,
    whetstone_version: VERSION,
  };
}

type Manifest = { source: string; source_sha256: string; rows: number; validation?: { source: string; source_sha256: string; rows: number } | null };

/** "org/name" for a model or dataset in the Hugging Face cache (…/models--org--name/snapshots/<rev>…). */
function hubRepo(path: string, kind: "models" | "datasets"): string | null {
  const m = new RegExp(`${kind}--([^/\\\\]+?)--([^/\\\\]+)[/\\\\]snapshots[/\\\\]`).exec(path);
  return m ? `${m[1]}/${m[2]}` : null;
}

/** The judge's verdict against the base (reports/eval-base.json), as the card states it. */
function judgeFacts(store: RunStore, runId: string): Record<string, unknown> | null {
  const report = loadEvalReport(store, runId, "base") as (ReturnType<typeof loadEvalReport> & { judge?: { name?: string } }) | null;
  if (!report) return null;
  const s = report.summary;
  return {
    against: "the base model",
    prompts: s.n,
    judge: report.judge?.name ?? null,
    win_rate: s.win_rate,
    win_rate_ci: s.win_rate_ci,
    lc_win_rate: s.lc_win_rate,
    lc_win_rate_ci: s.lc_win_rate_ci,
    wins: s.wins,
    ties: s.ties,
    losses: s.losses,
  };
}

/**
 * The base model's licence as its own model card states it (`license`, and `license_name` /
 * `license_link` for "other"), else the catalog's for a catalog model; nothing when neither says.
 */
function baseLicense(base: string): { license?: string; license_name?: string; license_link?: string } {
  const readme = join(base, "README.md");
  const front = existsSync(readme) ? /^---\r?\n([\s\S]*?)\r?\n---/.exec(readFileSync(readme, "utf8")) : null;
  if (front) {
    let meta: unknown;
    try {
      meta = parseYaml(front[1]!);
    } catch {
      meta = null; // a card whose front matter does not parse says nothing we can use
    }
    const m = (meta ?? {}) as Record<string, unknown>;
    const facts = Object.fromEntries((["license", "license_name", "license_link"] as const).filter((k) => typeof m[k] === "string").map((k) => [k, m[k] as string]));
    if (facts.license) return facts;
  }
  const id = hubRepo(base, "models");
  const entry = id ? loadCatalog().find((c) => c.id === id) : undefined;
  return entry ? { license: entry.license } : {};
}

