/** The kinds of job a run can have: its training and the tasks on it (one of each at a time). */
export const TASK_KINDS = ["train", "audit", "export", "eval", "generate", "merge", "push", "bench"] as const;
export type TaskKind = (typeof TASK_KINDS)[number];
/** What the job board queues besides trainings: run tasks, and syntheses (keyed by their output file, not a run). */
export type BoardTaskKind = Exclude<TaskKind, "train"> | "synth";
