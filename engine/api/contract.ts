/**
 * The engine's API, one typed contract for every channel: the loopback HTTP server, the Electron
 * IPC bridge and the renderer's client are all generated from this table, and every request is
 * validated against it at runtime in one place (`dispatch`).
 */
import * as z from "zod";
import { NodesInputSchema, RoundSamplesSchema, RunStatusSchema } from "../runs/types";
import { TASK_KINDS } from "../jobs/kinds";
import type { JudgmentsResult } from "../eval/judgments";
import { AuditOptionsSchema, AuditReportSchema } from "../audit/schema";
import { ExportOptionsSchema, ExportRecordSchema } from "../export/schema";
import { MergeOptionsSchema, MergeResultSchema } from "../merge/schema";
import { BenchOptionsSchema, BenchReportSchema } from "../bench/schema";
import { PushOptionsSchema, PushRecordSchema } from "../push/schema";
import { SweepOverridesSchema, SweepStatusSchema } from "../sweep/schema";
import { SynthOptionsSchema, SynthReportSchema } from "../synth/schema";
import { RoundsOverridesSchema, RoundsStatusSchema } from "../rounds/schema";
import { CompareOptionsSchema, CompareReportSchema, EvalOptionsSchema, EvalReportSchema, GenerateOptionsSchema, GenerateResultSchema } from "../eval/schema";
import { DatasetReportSchema, InspectOptionsSchema, PreviewOptionsSchema, SamplePreviewSchema } from "../data/report";
import { DoctorReportSchema, FolderListingSchema, ModelCheckSchema, ModelListingSchema, PlanInputSchema, PreflightResultSchema, PullResultSchema, RunPlanSchema, StartingPointsSchema } from "../models/api-schemas";

const RunRef = z.strictObject({ id: z.string().min(1) });
const MetricsRowSchema = z.record(z.string(), z.number().nullable());
/** When createRun measures one real training step first: `auto` when the estimate is near or over the device's memory. */
export const PREFLIGHT_POLICIES = ["auto", "always", "never"] as const;
export type PreflightPolicy = (typeof PREFLIGHT_POLICIES)[number];

export const API = {
  health: {
    input: z.strictObject({}),
    output: z.object({ version: z.string(), protocol: z.number(), home: z.string(), queue: z.object({ running: z.number(), waiting: z.number() }) }),
  },
  listRuns: { input: z.strictObject({}), output: z.array(RunStatusSchema) },
  /** Run folders whose status.json cannot be read (listRuns leaves them out), with the runs folder they are in. */
  listDamagedRuns: {
    input: z.strictObject({}),
    output: z.object({ runsDir: z.string(), damaged: z.array(z.object({ id: z.string(), dir: z.string(), reason: z.string() })) }),
  },
  getRun: {
    input: RunRef,
    output: z.object({
      status: RunStatusSchema,
      config: z.record(z.string(), z.unknown()),
      data: z.record(z.string(), z.unknown()).nullable(),
      /** The run's folder on this machine. */
      dir: z.string(),
      /** A merged run's lineage.json (method, the runs it came from), else null. */
      lineage: z.record(z.string(), z.unknown()).nullable(),
    }),
  },
  /** Resolves once the run is no longer queued or running (a long poll; events say what happens meanwhile). */
  awaitRun: { input: RunRef, output: RunStatusSchema },
  getMetrics: { input: z.strictObject({ id: z.string().min(1), since: z.number().int().min(0).optional() }), output: z.array(MetricsRowSchema) },
  getLog: { input: z.strictObject({ id: z.string().min(1), tail: z.number().int().positive().max(100_000).optional() }), output: z.array(z.string()) },
  /** A grpo run's logged rounds: the first prompt's sampled completions with their rewards, every 10 rounds (the last `tail`). */
  getSamples: { input: z.strictObject({ id: z.string().min(1), tail: z.number().int().positive().max(10_000).optional() }), output: z.array(RoundSamplesSchema) },
  createRun: {
    input: z.strictObject({
      /** A config object (wizard, HTTP) … */
      config: z.unknown().optional(),
      /** … or a config file on this machine (CLI). */
      configPath: z.string().min(1).optional(),
      /** Folder that relative paths in `config` are resolved against. */
      baseDir: z.string().min(1).optional(),
      /** Train on the valid rows and list the skipped ones (overrides data.skip_invalid). */
      skipInvalid: z.boolean().optional(),
      /**
       * Measure one real training step before the run is created: `auto` (default) when the estimate
       * is near or over the device's memory, `always`, or `never`. Its lines come as `preflight`
       * events and go into the run's log; a step that does not fit refuses the run (PREFLIGHT_DOES_NOT_FIT).
       */
      preflight: z.enum(PREFLIGHT_POLICIES).optional(),
      /** Processes that train the run together on this machine, one per GPU, or `auto`: every GPU; in place of the config's training.devices (validated with it, stored in the run's config). */
      devices: z.union([z.literal("auto"), z.number().int()]).optional(),
      /**
       * A run on several machines (torchrun's nodes), created on node 0; each other machine runs the
       * same command with its own rank, which follows this run (`whetstone train … --node-rank R`).
       * Stored with the run: a resume launches it the same way.
       */
      nodes: NodesInputSchema.optional(),
    }),
    output: RunStatusSchema,
  },
  resumeRun: { input: RunRef, output: RunStatusSchema },
  cancelRun: { input: RunRef, output: RunStatusSchema },
  /** Cancel a run's training or one of its tasks (`cancelled` is false when none was queued or running); a training stops after its checkpoint. */
  cancelTask: { input: z.strictObject({ id: z.string().min(1), kind: z.enum(TASK_KINDS) }), output: z.object({ cancelled: z.boolean() }) },
  /** Memorization audit of a finished run, base vs tuned; stored in the run's reports/. */
  auditRun: { input: AuditOptionsSchema.partial().extend({ id: z.string().min(1) }).strict(), output: AuditReportSchema },
  getAudit: { input: RunRef, output: AuditReportSchema.nullable() },
  /** Write a finished run's model as safetensors, adapter, gguf, ollama or onnx; recorded in the run's reports/exports.json. */
  exportRun: { input: ExportOptionsSchema.extend({ id: z.string().min(1) }), output: ExportRecordSchema },
  getExports: { input: RunRef, output: z.array(ExportRecordSchema) },
  /** Stop a queued or running export of a run (nothing is left at its destination). */
  cancelExport: { input: RunRef, output: z.object({ cancelled: z.boolean() }) },
  /**
   * Upload a finished run's model (safetensors, adapter or gguf; an earlier export of the format, else one made for it) and its model card to a
   * Hugging Face Hub repo of the token's owner, created (private when asked) unless it exists; a repo of someone else is refused before anything is
   * sent. Resumable: files the hub already has are not sent again. Progress: the run's `progress` events (phases check, export's, hash, upload, commit);
   * cancel with cancelTask kind `push`. Recorded in the run's reports/pushes.json.
   */
  pushRun: { input: PushOptionsSchema.extend({ id: z.string().min(1) }), output: PushRecordSchema },
  getPushes: { input: RunRef, output: z.array(PushRecordSchema) },
  /** Judge a finished run against its base (or `against` another run): win rate, LC win rate, CIs, per-prompt verdicts; stored in reports/. */
  evalRun: { input: EvalOptionsSchema.partial().extend({ id: z.string().min(1) }).strict(), output: EvalReportSchema },
  getEval: { input: z.strictObject({ id: z.string().min(1), against: z.string().min(1).optional() }), output: EvalReportSchema.nullable() },
  /** Judge runs against their bases and each other, rank them (Bradley–Terry) and mark the best; stored in every run. */
  compareRuns: { input: CompareOptionsSchema.partial().extend({ ids: z.array(z.string().min(1)).min(2) }).strict(), output: CompareReportSchema },
  getComparison: { input: RunRef, output: CompareReportSchema.nullable() },
  /** Re-score judgments made elsewhere (JSONL: id, preference 0..1, model_length, baseline_length): win rate and LC win rate with CIs. */
  scoreJudgments: {
    input: z.strictObject({ path: z.string().min(1), resamples: z.number().int().positive().optional() }),
    output: z.custom<JudgmentsResult>((v) => typeof v === "object" && v !== null),
  },
  /** Answers from a finished run's base and/or tuned model (chat playground); `stream` publishes `token` events. */
  generate: { input: GenerateOptionsSchema.partial().required({ prompts: true }).extend({ id: z.string().min(1) }).strict(), output: GenerateResultSchema },
  /** Merge finished runs of one base into a new run (soup, greedy-soup, dare), with lineage. */
  mergeRuns: { input: MergeOptionsSchema.partial().required({ method: true }).extend({ ids: z.array(z.string().min(1)).min(1) }).strict(), output: MergeResultSchema },
  /** Standard benchmarks (lm-evaluation-harness) on a finished run and its base: scores ± stderr and deltas per task and metric; stored in reports/bench.json (cancel: cancelTask kind bench). */
  benchRun: { input: BenchOptionsSchema.partial().required({ tasks: true }).extend({ id: z.string().min(1) }).strict(), output: BenchReportSchema },
  getBench: { input: RunRef, output: BenchReportSchema.nullable() },
  /** Stop a queued or running evaluation, comparison, generation or merge of a run (a merge by its first run). */
  cancelEval: { input: RunRef, output: z.object({ cancelled: z.boolean() }) },
  /** A dataset file or folder: format, schema, issues, statistics, preview handles (progress events: `dataset`). */
  inspectDataset: { input: InspectOptionsSchema.extend({ path: z.string().min(1) }), output: DatasetReportSchema },
  /** One sample through the model's chat template: tokens with trained and goldfish-dropped marks. */
  previewDataset: { input: PreviewOptionsSchema.extend({ path: z.string().min(1) }), output: SamplePreviewSchema },
  /** This machine: OS, the worker's Python and torch build, GPUs, optional kernels, disk; every problem with its fix. */
  doctor: { input: z.strictObject({}), output: DoctorReportSchema },
  /** Memory and time estimate of a run config against the detected device, with changes that make it fit (nothing runs). */
  planRun: { input: PlanInputSchema, output: RunPlanSchema },
  /** One real training step at the config's shape in the worker: the measured peak, and what to change when it does not fit. */
  preflightRun: {
    input: PlanInputSchema,
    output: z.object({ plan: RunPlanSchema, result: PreflightResultSchema, advice: z.array(z.object({ change: z.string(), total: z.number() })), text: z.string() }),
  },
  /** The curated catalog with what is in the Hugging Face cache and what fits the detected device per method. */
  listModels: { input: z.strictObject({}), output: z.array(ModelListingSchema) },
  /** Is this folder (or cached hub id) a model that can train: folder, config.json, weights, tokenizer, chat template; each with what is missing. */
  checkModel: { input: z.strictObject({ path: z.string().min(1) }), output: ModelCheckSchema },
  /** The sub-folders of one folder (default: the home), only within the home, the Hugging Face cache and mounted volumes: the browser build's folder picker. */
  listFolders: { input: z.strictObject({ path: z.string().min(1).optional() }), output: FolderListingSchema },
  /** Base models on this machine (used by earlier runs, in the Hugging Face cache) and finished runs a new run can start from (init_from), with lineage. */
  startingPoints: { input: z.strictObject({}), output: StartingPointsSchema },
  /** Every model and dataset with a complete snapshot in the Hugging Face cache. */
  listCachedRepos: {
    input: z.strictObject({}),
    output: z.array(z.object({ id: z.string(), type: z.enum(["model", "dataset"]), path: z.string(), bytes: z.number() })),
  },
  /** Download a hub model or dataset into the Hugging Face cache (progress events: `download`). */
  pullModel: { input: z.strictObject({ id: z.string().min(1), dataset: z.boolean().optional(), revision: z.string().min(1).optional() }), output: PullResultSchema },
  /**
   * A sweep (issue #19): the config trained at each point of a grid, one trial after another, weak
   * trials stopped early, the judge's pick among the rest (events: `sweep`). Every trial's config is
   * validated first; resolves once the sweep is planned and its first trial queued.
   */
  startSweep: {
    input: z.strictObject({
      config: z.unknown().optional(),
      configPath: z.string().min(1).optional(),
      baseDir: z.string().min(1).optional(),
      /** Names the sweep and its trials' runs (NAME-t1, …); default: the config's name. */
      name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/).optional(),
      /** Over the config's sweep block: a grid's fields are added to (or replace) the block's. */
      spec: SweepOverridesSchema.optional(),
    }),
    output: SweepStatusSchema,
  },
  getSweep: { input: RunRef, output: SweepStatusSchema },
  listSweeps: { input: z.strictObject({}), output: z.array(SweepStatusSchema) },
  /** Resolves with the sweep's state once it has ended (completed, failed or cancelled). */
  awaitSweep: { input: RunRef, output: SweepStatusSchema },
  /** Go on with an interrupted or cancelled sweep: finished trials are kept, the cut one resumes from its checkpoint. */
  resumeSweep: { input: RunRef, output: SweepStatusSchema },
  /** Stop a sweep this engine runs: its running trial stops with a checkpoint; resume it later. */
  cancelSweep: { input: RunRef, output: SweepStatusSchema },
  /**
   * Synthesize training rows (issue #18) with a model folder or a finished run into a JSONL file: magpie (from the
   * model's pre-query template) or fewshot (from the seed file's prompts); filtered, deduplicated, decontaminated
   * against evaluation prompts, each row with its `synth` provenance. Appends; a rerun continues where the file
   * stops. Progress: `synth` events (rows, ETA); cancel with cancelSynth. Resolves with the report.
   */
  synthData: { input: SynthOptionsSchema.partial().required({ method: true, n: true, out: true }).strict(), output: SynthReportSchema },
  /** Copy the bundled GLAN taxonomy to `out` (or the first free name beside it: never over a file) for the user to edit. */
  copySynthTaxonomy: { input: z.strictObject({ out: z.string().min(1) }), output: z.object({ path: z.string() }) },
  /** Stop a queued or running synthesis into `out` (the rows written stay; rerun to continue). */
  cancelSynth: { input: z.strictObject({ out: z.string().min(1) }), output: z.object({ cancelled: z.boolean() }) },
  /**
   * Self-bootstrapped rounds (issue #18, ALMA's loop): each round synthesizes data with the current model, trains a
   * run on it chained from the previous round's (lineage), and is judged against the base and the previous round
   * (LC win rate); the loop stops when a round stops winning (events: `rounds`). The block, the prompts and the
   * round's config are checked first; resolves once the loop is planned and its first round started.
   */
  startRounds: {
    input: z.strictObject({
      config: z.unknown().optional(),
      configPath: z.string().min(1).optional(),
      baseDir: z.string().min(1).optional(),
      /** Names the loop and its rounds' runs (NAME-r1, …); default: the config's name. */
      name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/).optional(),
      /** Over the config's rounds block. */
      spec: RoundsOverridesSchema.optional(),
    }),
    output: RoundsStatusSchema,
  },
  getRounds: { input: RunRef, output: RoundsStatusSchema },
  listRounds: { input: z.strictObject({}), output: z.array(RoundsStatusSchema) },
  /** Resolves with the loop's state once it has ended (completed, failed or cancelled). */
  awaitRounds: { input: RunRef, output: RoundsStatusSchema },
  /** Go on with interrupted, failed or cancelled rounds: the synthesis continues its file, a cut run resumes, a cut evaluation is redone. */
  resumeRounds: { input: RunRef, output: RoundsStatusSchema },
  /** Stop rounds this engine drives (a training run stops with a checkpoint); resume them later. */
  cancelRounds: { input: RunRef, output: RoundsStatusSchema },
} as const;

export type Api = typeof API;
export type ApiMethod = keyof Api;
export type ApiInput<M extends ApiMethod> = z.input<Api[M]["input"]>;
export type ApiOutput<M extends ApiMethod> = z.output<Api[M]["output"]>;
export type ApiHandlers = { [M in ApiMethod]: (input: z.output<Api[M]["input"]>) => Promise<ApiOutput<M>> | ApiOutput<M> };

export const API_METHODS = Object.keys(API) as ApiMethod[];

export function isApiMethod(name: string): name is ApiMethod {
  return Object.prototype.hasOwnProperty.call(API, name);
}
