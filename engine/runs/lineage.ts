/**
 * Chaining runs: `init_from` names a finished run (id, id prefix or name) or a folder, and the new
 * run starts from its weights. Resolved once, when the run is created: the stored config holds the
 * absolute folder (so the run reproduces even if runs are renamed) and status.parent the lineage.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { WhetstoneError } from "../util/errors";
import type { RunStore } from "./store";

export interface Parent {
  run: string | null;
  path: string;
  kind: "adapter" | "model";
}

/**
 * `modelPath`: the new run's model.path. A run's adapter applies to that run's base (see effectiveBase);
 * the worker merges the parent adapter into model.path, so the two must be the same model folder.
 */
export function resolveInitFrom(store: RunStore, ref: string, modelPath?: string): Parent {
  if (isAbsolute(ref)) return { run: null, path: ref, kind: folderKind(ref) };
  const run = store.resolve(ref);
  const status = store.get(run);
  const output = status.outputs.adapter ?? status.outputs.model;
  if (status.state !== "completed" || !output) {
    throw new WhetstoneError({
      code: "INIT_FROM_NOT_READY",
      message: `init_from: run ${run} is ${status.state} and has no final adapter or model to start from.`,
      hint: "Chain from a completed run (`whetstone runs` lists them), or give the folder of an adapter or model.",
    });
  }
  const kind = folderKind(output);
  const base = effectiveBase(store, run);
  if (kind === "adapter" && modelPath !== undefined && resolve(base) !== resolve(modelPath)) {
    throw new WhetstoneError({
      code: "INIT_FROM_BASE_MISMATCH",
      message: `init_from: run ${run}'s adapter applies to ${base}, but this run's model.path is ${modelPath}; merged into another model its update means nothing.`,
      hint: `Set model.path to ${base}, or chain from a run trained on ${modelPath}.`,
    });
  }
  return { run, path: output, kind };
}

/**
 * A LoRA run chained from an adapter ends with one adapter holding both updates (the worker's
 * recipes/chain.py stacks the low-rank factors). DoRA's per-row magnitude does not stack, so DoRA on
 * either side is refused here, before any data is read, with the ways that do work.
 */
export function checkChainable(parent: Parent, finetune: string, variant: string | undefined): void {
  if (parent.kind !== "adapter" || finetune === "full") return;
  let parentDora = false;
  try {
    parentDora = (JSON.parse(readFileSync(join(parent.path, "adapter_config.json"), "utf8")) as { use_dora?: boolean }).use_dora === true;
  } catch {
    return; // unreadable: the worker names what is wrong with the folder
  }
  if (!parentDora && variant !== "dora") return;
  throw new WhetstoneError({
    code: "INIT_FROM_INVALID",
    message: `init_from: ${parentDora ? `${parent.run ?? parent.path} trained a DoRA adapter` : "this run trains DoRA (lora.variant: dora)"}; a LoRA run chained from an adapter combines the two adapters into one, which DoRA's learned magnitudes do not allow.`,
    hint: "Chain with plain LoRA or rsLoRA on both sides, train the chained run with finetune: full, or export the parent merged (whetstone export RUN --format safetensors) and chain from that model folder.",
  });
}

function folderKind(path: string): Parent["kind"] {
  if (existsSync(path) && statSync(path).isDirectory()) {
    if (existsSync(join(path, "adapter_config.json"))) return "adapter";
    if (existsSync(join(path, "config.json"))) return "model";
  }
  throw new WhetstoneError({
    code: "INIT_FROM_INVALID",
    message: `init_from: ${path} is neither a LoRA adapter folder (adapter_config.json) nor a model folder (config.json).`,
    hint: "Point init_from at a finished run's outputs/adapter or outputs/model, or give the run's id.",
  });
}

/**
 * The model a run's adapter applies to, and what export, evaluation, generation, audit and merge load
 * as its base: the full model a run was chained from (init_from a model folder), else model.path.
 * A run chained from an adapter needs nothing special: its final adapter already holds the parent's
 * update too, on model.path (the worker's recipes/chain.py).
 */
export function effectiveBase(store: RunStore, runId: string): string {
  const parent = store.get(runId).parent;
  return parent?.kind === "model" ? parent.path : store.config(runId).model.path;
}

/** A merged run's lineage.json: the runs it was merged from, the method and the decisions (engine/merge). */
export function lineagePath(store: RunStore, runId: string): string {
  return join(store.runDir(runId), "lineage.json");
}

export function loadLineage(store: RunStore, runId: string): Record<string, unknown> | null {
  const path = lineagePath(store, runId);
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>) : null;
}

/**
 * A finished run's trained weights (its adapter, else its full model), or an error naming what
 * `verb` needs: the audit, export, evaluation and merge of a run all start here.
 */
export function trainedWeights(store: RunStore, runId: string, verb: string, code: string, then = ""): { path: string; kind: "adapter" | "model" } {
  const status = store.get(runId);
  const tuned = status.outputs.adapter ? { path: status.outputs.adapter, kind: "adapter" as const } : status.outputs.model ? { path: status.outputs.model, kind: "model" as const } : undefined;
  if (status.state !== "completed" || !tuned || !existsSync(tuned.path)) {
    throw new WhetstoneError({
      code,
      message: `Run ${runId} has no trained weights to ${verb} (state: ${status.state}).`,
      hint: status.state === "completed" ? "Its outputs folder is missing; train it again." : `Finish the run first (\`whetstone resume ${runId}\`)${then}.`,
    });
  }
  return tuned;
}
