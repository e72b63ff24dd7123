/** Merge API shapes, free of Node imports so the renderer can share them. */
import * as z from "zod";
import { RunStatusSchema } from "../runs/types";
import { CompareOptionsSchema } from "../eval/schema";

import { MERGE_METHODS } from "./methods";

export { MERGE_METHODS };

export const MergeOptionsSchema = CompareOptionsSchema.extend({
  method: z.enum(MERGE_METHODS).describe("soup: average of the fine-tuned weights; greedy-soup: add a run only if the judge prefers the result; dare: drop and rescale each delta, then add them."),
  p: z.number().min(0).lt(1).default(0.5).describe("DARE: fraction of each delta's entries dropped (the rest is scaled by 1/(1-p))."),
  seed: z.number().int().min(0).default(0).describe("DARE's drop masks; greedy soup's sampling, if any."),
  name: z.string().regex(/^[A-Za-z0-9._-]+$/, "letters, digits, '.', '_' and '-' only").nullable().default(null).describe("Name of the new run (default: <method>-of-<n>)."),
});
export type MergeOptions = z.output<typeof MergeOptionsSchema>;

export const MergeResultSchema = z.object({ run: RunStatusSchema, lineage: z.record(z.string(), z.unknown()) });
export type MergeResult = z.infer<typeof MergeResultSchema>;
