/** The merge methods, free of imports: `whetstone help` reads them without loading zod. */
export const MERGE_METHODS = ["soup", "greedy-soup", "dare"] as const;
