/** Where a run's evaluation and comparison reports live, and reading them back (light: the API's getters import this, not the judge). */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { RunStore } from "../runs/store";
import type { CompareReport, EvalReport } from "./schema";

export function evalPaths(store: Pick<RunStore, "runDir">, runId: string, against: string): { json: string; markdown: string } {
  const name = against === "base" ? "eval-base" : `eval-vs-${against}`;
  const dir = join(store.runDir(runId), "reports");
  return { json: join(dir, `${name}.json`), markdown: join(dir, `${name}.md`) };
}

export function comparePaths(store: Pick<RunStore, "runDir">, runId: string): { json: string; markdown: string } {
  const dir = join(store.runDir(runId), "reports");
  return { json: join(dir, "compare.json"), markdown: join(dir, "compare.md") };
}

export function loadEvalReport(store: RunStore, runId: string, against = "base"): EvalReport | null {
  const { json } = evalPaths(store, runId, against);
  return existsSync(json) ? (JSON.parse(readFileSync(json, "utf8")) as EvalReport) : null;
}

export function loadCompareReport(store: RunStore, runId: string): CompareReport | null {
  const { json } = comparePaths(store, runId);
  return existsSync(json) ? (JSON.parse(readFileSync(json, "utf8")) as CompareReport) : null;
}
