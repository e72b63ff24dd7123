/**
 * Starting hyperparameters from the data (samples, token lengths) and the method, following the
 * usual LoRA/full recipes: fewer samples need more epochs; max length covers the 95th percentile.
 */
import type { DatasetReport } from "../../../engine/data/report";
import type { Draft } from "./draft";

export function suggestSettings(d: Pick<Draft, "finetune">, report: DatasetReport | null): Pick<Draft, "epochs" | "learningRate" | "maxLength"> {
  const samples = report?.stats.samples ?? 0;
  const epochs = samples === 0 ? 1 : samples < 500 ? 3 : samples < 5000 ? 2 : 1;
  const p95 = report?.stats.tokens?.length.p95;
  let maxLength = 1024;
  if (p95) {
    maxLength = 64;
    while (maxLength < p95 && maxLength < 8192) maxLength *= 2;
  }
  return { epochs, learningRate: d.finetune === "full" ? 2e-5 : 2e-4, maxLength };
}
