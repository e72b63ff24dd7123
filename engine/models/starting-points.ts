/**
 * What a new run can start from, as the wizard offers it: base models this machine already has
 * (folders earlier runs trained on, newest first, and the Hugging Face cache's models), and
 * finished runs whose adapter or model a chained run (config init_from) can build on, each with
 * the base it applies to and its own lineage, so SFT → DPO is picked, not typed.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { RunStore } from "../runs/store";
import { effectiveBase } from "../runs/lineage";
import { listCached } from "./hub";

export interface LocalModel {
  path: string;
  /** Hub id (cache) or the folder's last name (recent). */
  label: string;
  source: "recent" | "cache";
  /** Recent: when a run last used it. Cache: null. */
  used_at: string | null;
  bytes: number | null;
}

export interface ChainableRun {
  id: string;
  name: string;
  method: string;
  finetune: string;
  finished_at: string | null;
  /** What a chained run starts from: the run's final adapter, else its full model. */
  kind: "adapter" | "model";
  path: string;
  /** The model folder the adapter applies to (a chained run must use the same model.path). */
  base: string;
  /** The runs this one was chained from, nearest first (its parent, the parent's parent, …). */
  lineage: { id: string; method: string; kind: "adapter" | "model" }[];
}

export function localModels(store: RunStore, env: NodeJS.ProcessEnv = process.env): LocalModel[] {
  const recent = new Map<string, LocalModel>();
  for (const run of store.list().sort((a, b) => b.created_at.localeCompare(a.created_at))) {
    let path: string;
    try {
      path = store.config(run.id).model.path;
    } catch {
      continue; // a run folder without a readable config
    }
    if (recent.has(path) || !existsSync(join(path, "config.json"))) continue;
    recent.set(path, { path, label: path.split(/[\\/]/).filter(Boolean).pop() ?? path, source: "recent", used_at: run.created_at, bytes: null });
    if (recent.size >= 10) break;
  }
  const cached = listCached(env)
    .filter((r) => r.type === "model" && !recent.has(r.path))
    .map((r): LocalModel => ({ path: r.path, label: r.id, source: "cache", used_at: null, bytes: r.bytes }));
  return [...recent.values(), ...cached];
}

export function chainableRuns(store: RunStore): ChainableRun[] {
  const out: ChainableRun[] = [];
  for (const run of store.list()) {
    const output = run.outputs.adapter ?? run.outputs.model;
    if (run.state !== "completed" || !output || !existsSync(output)) continue;
    try {
      const config = store.config(run.id);
      out.push({
        id: run.id,
        name: run.name,
        method: run.method,
        finetune: config.finetune,
        finished_at: run.finished_at,
        kind: run.outputs.adapter ? "adapter" : "model",
        path: output,
        base: effectiveBase(store, run.id),
        lineage: lineageOf(store, run.id),
      });
    } catch {
      continue;
    }
  }
  return out.sort((a, b) => (b.finished_at ?? "").localeCompare(a.finished_at ?? ""));
}

/** The chain of parents of a run, nearest first (cycles cannot happen, but the walk is bounded anyway). */
export function lineageOf(store: RunStore, runId: string): ChainableRun["lineage"] {
  const chain: ChainableRun["lineage"] = [];
  let parent = store.get(runId).parent;
  while (parent?.run && chain.length < 20) {
    let method = "?";
    try {
      method = store.get(parent.run).method;
    } catch {
      // the parent run was deleted: its folder is still named in the lineage
    }
    chain.push({ id: parent.run, method, kind: parent.kind });
    try {
      parent = store.get(parent.run).parent;
    } catch {
      break;
    }
  }
  return chain;
}
