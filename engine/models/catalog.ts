/**
 * The curated model catalog (assets/models/catalog.json) joined with this machine: which models are
 * in the Hugging Face cache, and which fit the detected device per method, from the estimator run on
 * the catalog's config.json numbers (nothing is downloaded to decide).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as z from "zod";
import { PROJECT_ROOT } from "../paths";
import { estimateMemory, shapeFromConfig, type PlanInput } from "../plan/estimate";
import type { Device } from "../plan/plan";
import { cachedSnapshot } from "./hub";
import { CatalogModelSchema, type CatalogModel, type ModelListing } from "./api-schemas";

export const CATALOG_PATH = join(PROJECT_ROOT, "assets", "models", "catalog.json");

export function loadCatalog(path = CATALOG_PATH): CatalogModel[] {
  return z.object({ models: z.array(CatalogModelSchema) }).parse(JSON.parse(readFileSync(path, "utf8"))).models;
}

/** The defaults of the run config (max_length 1024, micro-batch 4, LoRA r 16 on all linear layers). */
function defaultInput(device: Device, finetune: "lora" | "full", checkpointing: boolean): PlanInput {
  const half = device.kind === "cuda";
  return { finetune, loraRank: 16, loraTargets: "all-linear", microBatchSize: 4, maxLength: 1024, gradientCheckpointing: checkpointing, weightBytes: half ? 2 : 4, activationBytes: half ? 2 : 4, device: device.kind, chunkedLoss: true };
}

export function listModels(device: Device, env: NodeJS.ProcessEnv = process.env, catalog = loadCatalog()): ModelListing[] {
  return catalog.map((m) => {
    const shape = shapeFromConfig(m.architecture);
    const fits: ModelListing["fits"] = {};
    // "lora" and "full" at the same settings (no checkpointing), so the columns compare; each "+checkpointing" beside it.
    for (const [name, finetune, ckpt] of [["lora", "lora", false], ["lora+checkpointing", "lora", true], ["full", "full", false], ["full+checkpointing", "full", true]] as const) {
      const bytes = estimateMemory(shape, defaultInput(device, finetune, ckpt)).total;
      fits[name] = { bytes, fits: bytes <= device.memoryBytes };
    }
    return { ...m, cached: cachedSnapshot(m.id, "model", env), fits };
  });
}
