/**
 * Starting hyperparameters from the data (samples, token lengths) and the method, following the
 * usual LoRA/full recipes: fewer samples need more epochs; max length covers the 95th percentile;
 * a validation split of 5% (at least 20 rows) once the data has enough rows to spare them, because
 * the validation loss and the judge's prompts both come from it.
 */
import type { DatasetReport } from "../../../engine/api/public";
import type { Draft } from "./draft";

/** Rows held out at least, and the fewest samples that leave enough to train on after holding them out. */
const MIN_VALIDATION_ROWS = 20;
const MIN_SAMPLES_FOR_SPLIT = 200;

export function suggestSettings(d: Pick<Draft, "finetune">, report: DatasetReport | null): Pick<Draft, "epochs" | "learningRate" | "maxLength" | "validationSplit"> {
  const samples = report?.stats.samples ?? 0;
  const epochs = samples === 0 ? 1 : samples < 500 ? 3 : samples < 5000 ? 2 : 1;
  const p95 = report?.stats.tokens?.length.p95;
  let maxLength = 1024;
  if (p95) {
    maxLength = 64;
    while (maxLength < p95 && maxLength < 8192) maxLength *= 2;
  }
  return { epochs, learningRate: d.finetune === "full" ? 2e-5 : 2e-4, maxLength, validationSplit: validationSplitFor(samples) };
}

/** 5%, raised to hold out at least 20 rows; 0 when the data is too small to spare them. */
export function validationSplitFor(samples: number): number {
  if (samples < MIN_SAMPLES_FOR_SPLIT) return 0;
  return Math.max(0.05, Math.ceil((MIN_VALIDATION_ROWS / samples) * 100) / 100);
}
