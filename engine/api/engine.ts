/**
 * The engine: run store + job queue + worker supervision behind the API contract. The CLI uses it
 * in-process; `whetstone serve` and the Electron main process expose the same object to the UI.
 */
import { EventEmitter } from "node:events";
import { chmodSync, existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { API, isApiMethod, type PreflightPolicy, type ApiHandlers, type ApiInput, type ApiMethod, type ApiOutput } from "./contract";
import type { EngineEvent } from "./events";
import { RunStore, isAlive } from "../runs/store";
import { ACTIVE_STATES, type RunStatus } from "../runs/types";
import { JobBoard } from "../jobs/board";
import type { TaskKind } from "../jobs/kinds";
import { runWorkerTask } from "../jobs/worker-task";
import { AuditOptionsSchema, AuditReportSchema, auditCommand, loadAuditReport, saveAuditReport, type AuditOptions, type AuditReport } from "../audit/audit";
import { ExportOptionsSchema, ExportRecordSchema, exportCommand, loadExports, saveExportRecord, type ExportOptions, type ExportRecord } from "../export/export";
import { loadCompareReport, loadEvalReport } from "../eval/stored";
import { BenchOptionsSchema, benchCommand, benchReport, loadBenchReport, saveBenchReport, type BenchReport } from "../bench/bench";
import { hubWorkerEnv } from "../secrets/token";
import { CompareOptionsSchema, EvalOptionsSchema, GenerateOptionsSchema, type CompareReport, type EvalReport, type GenerateResult } from "../eval/schema";
import { MergeOptionsSchema, type MergeResult } from "../merge/schema";
import { PushOptionsSchema, type PushRecord } from "../push/schema";
import { validateConfig, withDevices } from "../config/load";
import { snapshotOptionsFor } from "../data/run-data";
import { resolveInitFrom, checkChainable, loadLineage } from "../runs/lineage";
import type { DatasetReport, SamplePreview } from "../data/report";
import { whetstoneHome } from "../paths";
import { PROTOCOL_VERSION } from "../protocol/messages";
import { WhetstoneError } from "../util/errors";
import { runNodes } from "../supervisor/launcher";
import { diskFullError, isDiskFull } from "../util/disk";
import { VERSION } from "../version";
import { analyze } from "../doctor/analyze";
import { gatherProbes } from "../doctor/probes";
import { detectDevice, formatPlan, planRun, type RunPlan } from "../plan/plan";
import { measuredThroughput } from "../plan/throughput";
import { withMargin } from "../plan/side-by-side";
import type { DeviceShare } from "../jobs/device-share";
import { randomUUID } from "node:crypto";
import { listModels } from "../models/catalog";
import { checkModel } from "../models/check";
import { chainableRuns, localModels } from "../models/starting-points";
import { listFolders } from "../fs/browse";
import { doesNotFitError, formatPreflight, measurable, measuredAdvice, notMeasurableError, notMeasured, preflight, preflightIntro, wantsPreflight } from "../plan/preflight";
import { scoreJudgments } from "../eval/judgments";
import { listCached } from "../models/hub";
import type { RunConfig } from "../config/schema";
import { SweepStore } from "../sweep/store";
import type { SweepStatus } from "../sweep/schema";
import { SynthOptionsSchema, type SynthReport } from "../synth/schema";
import { RoundsService } from "../rounds/service";
import type { RoundsStatus } from "../rounds/schema";

export interface EngineOptions {
  home?: string;
  /** Jobs run at once; 1 by default (one GPU). */
  concurrency?: number;
  python?: string;
  workerEnv?: NodeJS.ProcessEnv;
}

/** createRun's and resumeRun's caller inside the engine (a sweep) may start the run in a share of the device. */
export interface SideBySideSlot {
  share?: DeviceShare;
}

export class Engine implements ApiHandlers {
  readonly store: RunStore;
  readonly events = new EventEmitter<{ event: [EngineEvent] }>();
  private readonly board: JobBoard;
  private readonly sweeps: SweepStore;
  /** The sweeps this engine drives: their end, and the switch that cancels them. */
  private readonly sweepDrivers = new Map<string, { done: Promise<SweepStatus>; abort: AbortController }>();
  /** The self-bootstrapped rounds loops (engine/rounds/service.ts). */
  private readonly rounds: RoundsService;

  constructor(private readonly opts: EngineOptions = {}) {
    this.store = new RunStore(opts.home ?? whetstoneHome());
    this.sweeps = new SweepStore(this.store.home);
    this.board = new JobBoard({ store: this.store, publish: (e) => this.events.emit("event", e), concurrency: opts.concurrency, python: opts.python, workerEnv: opts.workerEnv });
    this.events.setMaxListeners(100);
    this.rounds = new RoundsService(this, this.store.home, (rounds) => this.publish({ type: "rounds", rounds }));
  }

  health(): ApiOutput<"health"> {
    return { version: VERSION, protocol: PROTOCOL_VERSION, home: this.store.home, queue: this.board.size };
  }

  listRuns(): RunStatus[] {
    return this.store.list();
  }

  listDamagedRuns(): ApiOutput<"listDamagedRuns"> {
    return { runsDir: this.store.runsDir, damaged: this.store.damaged() };
  }

  getRun({ id }: { id: string }): ApiOutput<"getRun"> {
    const runId = this.store.resolve(id);
    const dir = this.store.runDir(runId);
    const manifest = join(dir, "data", "manifest.json");
    return {
      status: this.store.get(runId),
      config: this.store.config(runId) as unknown as Record<string, unknown>,
      data: existsSync(manifest) ? (JSON.parse(readFileSync(manifest, "utf8")) as Record<string, unknown>) : null,
      dir,
      lineage: loadLineage(this.store, runId),
    };
  }

  awaitRun({ id }: { id: string }): Promise<RunStatus> {
    return this.waitForRun(id);
  }

  /** Every engine event as it happens (the CLI following a run, the SSE stream, the IPC bridge); returns the unsubscriber. */
  subscribe(listener: (event: EngineEvent) => void): () => void {
    this.events.on("event", listener);
    return () => void this.events.off("event", listener);
  }

  getMetrics({ id, since }: { id: string; since?: number }): ApiOutput<"getMetrics"> {
    return this.store.readMetrics(this.store.resolve(id), since ?? 0);
  }

  getLog({ id, tail }: { id: string; tail?: number }): string[] {
    return this.store.readLog(this.store.resolve(id), tail ?? 200);
  }

  getSamples({ id, tail }: { id: string; tail?: number }): ApiOutput<"getSamples"> {
    return this.store.readSamples(this.store.resolve(id), tail ?? 20);
  }

  /**
   * Validate the config (loaded once for the whole request), measure one step when the preflight
   * policy asks for it, snapshot the data (errors surface here, before any queueing), enqueue. A
   * refused preflight or refused data never becomes a run: its folder is removed, the error is the answer.
   */
  async createRun(input: ApiInput<"createRun">, side: SideBySideSlot = {}): Promise<RunStatus> {
    const { config: read, source } = await this.loadRunConfig(input, "createRun");
    const nodes = input.nodes ? runNodes(input.nodes, read.method) : null;
    const loaded = await this.withJudges(read);
    const parent = loaded.init_from !== null ? resolveInitFrom(this.store, loaded.init_from, loaded.model.path) : null;
    if (parent) checkChainable(parent, loaded.finetune, loaded.lora.variant);
    const config = parent ? { ...loaded, init_from: parent.path } : loaded;
    const created = this.store.create(config, source);
    const status = parent || nodes ? this.store.update(created.id, { ...(parent ? { parent } : {}), ...(nodes ? { nodes } : {}) }) : created;
    const dir = this.store.runDir(status.id);
    try {
      await this.preflightForRun(status.id, config, input.preflight ?? "auto", side.share);
    } catch (e) {
      this.store.discard(status.id);
      throw e;
    }
    try {
      const { writeSnapshot } = await import("../data/snapshot");
      await writeSnapshot(config.data.train, dir, {
        ...snapshotOptionsFor(config, { skipInvalid: input.skipInvalid }),
        onProgress: (p) =>
          this.publish({
            type: "progress",
            runId: status.id,
            progress: { phase: "data", current: p.bytes, total: p.totalBytes, unit: "bytes", elapsed_s: p.elapsed_s, eta_s: p.eta_s, message: `${p.rows} rows read` },
          }),
      });
    } catch (e) {
      // Refused data never became a run: no `failed` folder is left behind, the error is the answer.
      this.store.discard(status.id);
      if (e instanceof WhetstoneError) throw e;
      if (isDiskFull(e)) throw diskFullError(join(dir, "data"), "the run's data snapshot", e);
      throw new WhetstoneError({ code: "DATA_INVALID", message: String(e), hint: "Check the data file." });
    }
    this.board.train(status.id, "train", this.slotFor(config, side.share));
    return this.store.get(status.id);
  }

  /**
   * grpo's judge rewards with their judge folder resolved (the default judge downloaded once, as for
   * evaluation), so the stored config says which judge scored the run and the worker needs no network.
   */
  private async withJudges(config: RunConfig): Promise<RunConfig> {
    if (!config.rewards?.some((r) => r.type === "judge")) return config;
    const { resolveJudge } = await import("../judge/run");
    const rewards = [];
    for (const [i, r] of config.rewards.entries()) {
      if (r.type !== "judge") {
        rewards.push(r);
        continue;
      }
      if (r.judge !== null && /^https?:\/\//i.test(r.judge)) {
        throw new WhetstoneError({ code: "CONFIG_INVALID", message: `rewards[${i}].judge: ${r.judge} is a server; a judge reward scores every sampled answer during training and runs a local judge.`, hint: "Give a local ONNX judge folder, or leave judge out for the default judge." });
      }
      const target = await resolveJudge({ judge: r.judge, judgeModel: null }, this.store.home);
      rewards.push({ ...r, judge: target.kind === "onnx" ? target.path : r.judge });
    }
    return { ...config, rewards };
  }

  resumeRun({ id }: { id: string }, side: SideBySideSlot = {}): RunStatus {
    const runId = this.store.resolve(id);
    const status = this.store.get(runId);
    if (ACTIVE_STATES.includes(status.state)) {
      const orphan = status.owner_pid !== null && !isAlive(status.owner_pid) && status.worker_pid !== null;
      throw new WhetstoneError({
        code: "RUN_ACTIVE",
        message: orphan
          ? `Run ${runId} is still stopping: its engine exited, and its worker (pid ${status.worker_pid}) is writing its last checkpoint.`
          : `Run ${runId} is ${status.state}.`,
        hint: orphan ? "Resume it again in a few seconds, once that worker has exited." : "Wait for it, or cancel it first with `whetstone cancel`.",
      });
    }
    if (status.state === "completed") {
      throw new WhetstoneError({ code: "RUN_COMPLETED", message: `Run ${runId} has already completed.`, hint: "Start a new run to train further." });
    }
    if (!existsSync(join(this.store.runDir(runId), "data", "train.jsonl"))) {
      throw new WhetstoneError({ code: "RUN_NOT_RESUMABLE", message: `Run ${runId} has no data snapshot (it failed before training started).`, hint: "Fix the problem in its log and start a new run." });
    }
    this.store.clearCancel(runId); // a leftover request (a crash, or one left by hand) must not cancel the resume
    this.publish({ type: "run", run: this.store.update(runId, { state: "queued", owner_pid: process.pid, finished_at: null }) });
    this.board.train(runId, "resume", this.slotFor(this.store.config(runId), side.share));
    return this.store.get(runId);
  }

  /** Cancel a run owned by this engine, or ask the owning process to (through the run folder); resolves once it has stopped. */
  async cancelRun({ id }: { id: string }): Promise<RunStatus> {
    const runId = this.store.resolve(id);
    return this.board.cancel("train", runId) ? this.board.waitForRun(runId, { pollMs: 300 }) : this.store.get(runId);
  }

  /** Cancel a run's training or task of one kind; `cancelled` is false when there was none. */
  cancelTask({ id, kind }: { id: string; kind: TaskKind }): { cancelled: boolean } {
    return { cancelled: this.board.cancel(kind, this.store.resolve(id)) };
  }

  /** Queue a memorization audit of a finished run; resolves with the stored report. */
  async auditRun(input: Partial<AuditOptions> & { id: string }): Promise<AuditReport> {
    const runId = this.store.resolve(input.id);
    const { id: _, ...rest } = input;
    const opts = AuditOptionsSchema.parse(rest);
    const command = auditCommand(this.store, runId, opts);
    return this.board.task(
      "audit",
      runId,
      "audit",
      async (signal) => {
        const result = await runWorkerTask(this.board.taskContext(), runId, "audit", command, signal);
        const parsed = AuditReportSchema.safeParse(result);
        if (!parsed.success) throw new WhetstoneError({ code: "AUDIT_BAD_REPORT", message: `The worker's audit report is malformed: ${parsed.error.issues[0]?.message}`, hint: "This is a bug in Whetstone." });
        return saveAuditReport(this.store, runId, parsed.data as AuditReport);
      },
      "AUDIT_RUNNING",
    );
  }

  getAudit({ id }: { id: string }): AuditReport | null {
    return loadAuditReport(this.store, this.store.resolve(id));
  }

  /** Queue lm-evaluation-harness on a finished run and its base; resolves with the stored report. */
  async benchRun(input: ApiInput<"benchRun">): Promise<BenchReport> {
    const runId = this.store.resolve(input.id);
    const { id: _, ...rest } = input;
    const command = benchCommand(this.store, runId, BenchOptionsSchema.parse(rest));
    // Standard tasks download their data on first use: the worker is online (unless the user set
    // offline mode), so it comes from the fork server of the online environment (huggingface_hub
    // reads it at import), and the token goes with the fork request.
    const ctx = { ...this.board.taskContext(), workerEnv: hubWorkerEnv(this.opts.workerEnv) };
    return this.board.task(
      "bench",
      runId,
      "benchmark",
      async (signal) => saveBenchReport(this.store, runId, benchReport(runId, await runWorkerTask(ctx, runId, "bench", command, signal))),
      "BENCH_RUNNING",
    );
  }

  getBench({ id }: { id: string }): BenchReport | null {
    return loadBenchReport(this.store, this.store.resolve(id));
  }

  /** Read a dataset (streaming; `dataset` progress events) and report what training would make of it. */
  async inspectDataset(input: ApiInput<"inspectDataset">): Promise<DatasetReport> {
    const { path, ...opts } = input;
    const { inspectDataset } = await import("../data/inspect");
    return inspectDataset(path, opts, {
      onProgress: (p) =>
        this.publish({
          type: "dataset",
          path,
          progress: { phase: "data", current: p.bytes, total: p.totalBytes, unit: "bytes", elapsed_s: p.elapsed_s, eta_s: p.eta_s, message: `${p.rows} rows read` },
        }),
    });
  }

  async previewDataset(input: ApiInput<"previewDataset">): Promise<SamplePreview> {
    const { path, ...opts } = input;
    const { previewDataset } = await import("../data/preview");
    return previewDataset(path, opts);
  }

  /** The machine report of `whetstone doctor`. */
  async doctor(): Promise<ApiOutput<"doctor">> {
    const report = analyze(await gatherProbes({ ...process.env, ...this.opts.workerEnv }));
    return { ...report, probes: report.probes as unknown as Record<string, unknown> };
  }

  /**
   * A share of the device for trainings side by side (a sweep's trials): `slots` at once, together
   * planned to hold at most `budgetBytes`; createRun and resumeRun given it start their run in it.
   */
  shareDevice(owner: string, slots: number, budgetBytes: number): DeviceShare {
    return this.board.share(owner, slots, budgetBytes);
  }

  /** A run's slot in a share: its planned peak and margin (a config the plan cannot estimate counts as the whole budget, so it trains alone). */
  private slotFor(config: RunConfig, share: DeviceShare | undefined): { share: DeviceShare; bytes: number } | undefined {
    if (!share) return undefined;
    let bytes = share.budgetBytes;
    try {
      bytes = withMargin(this.plan(config).estimate.total);
    } catch {
      /* unplanned: alone */
    }
    return { share, bytes };
  }

  /** `whetstone train CONFIG --plan`: the estimate against the detected device; nothing is loaded or run. */
  async planRun(input: ApiInput<"planRun">): Promise<ApiOutput<"planRun">> {
    const { config } = await this.loadRunConfig(input, "planRun");
    return shownPlan(this.plan(config, input.data ?? null));
  }

  /** One measured training step at the config's shape (takes the device lock: not while a run trains). */
  async preflightRun(input: ApiInput<"preflightRun">): Promise<ApiOutput<"preflightRun">> {
    const { config } = await this.loadRunConfig(input, "preflightRun");
    const plan = this.plan(config);
    if (!measurable(plan)) throw notMeasurableError(plan);
    return this.measureStep(config, plan);
  }

  private plan(config: RunConfig, data: ApiInput<"planRun">["data"] | null = null): RunPlan {
    const device = detectDevice();
    return planRun(config, device, measuredThroughput(this.store, config, device), data);
  }

  private async measureStep(config: RunConfig, plan: RunPlan, share?: DeviceShare): Promise<ApiOutput<"preflightRun">> {
    // In a share (a sweep's trial), the step takes a slot of it: the share may hold the device lock already.
    const release = share ? await share.acquire(`preflight ${randomUUID()}`, withMargin(plan.estimate.total)) : ((await this.board.lock()?.acquire("preflight")) ?? (() => {}));
    try {
      const result = await preflight(config, { python: this.opts.python, env: this.opts.workerEnv });
      const advice = result.fits ? [] : measuredAdvice(config, plan, result);
      return { plan: shownPlan(plan), result, advice, text: formatPreflight(result, plan, advice) };
    } finally {
      release();
    }
  }

  /**
   * createRun's preflight: `auto` measures when the estimate is near or over the device's memory (a
   * config the estimator cannot plan is left to the run to report), `always` measures, `never` does
   * not. Each line goes to the run's log and out as a `preflight` event. The step waits for the
   * device like a run does, so createRun answers after a training that holds the device.
   */
  private async preflightForRun(runId: string, config: RunConfig, policy: PreflightPolicy, share?: DeviceShare): Promise<void> {
    if (policy === "never") return;
    let plan;
    try {
      plan = this.plan(config);
    } catch (e) {
      if (policy === "always") throw e;
      return;
    }
    if (!wantsPreflight(plan, policy === "always")) return;
    const say = (text: string, fits: boolean | null) => {
      this.store.appendLog(runId, text);
      this.publish({ type: "preflight", runId, fits, text });
    };
    if (!measurable(plan)) return say(notMeasured(plan), plan.fits);
    say(preflightIntro(plan, policy === "always"), null);
    const { result, text } = await this.measureStep(config, plan, share);
    say(text, result.fits);
    if (!result.fits) throw doesNotFitError(text);
  }

  listModels(): ApiOutput<"listModels"> {
    return listModels(detectDevice(), { ...process.env, ...this.opts.workerEnv });
  }

  checkModel({ path }: { path: string }): ApiOutput<"checkModel"> {
    return checkModel(path, { ...process.env, ...this.opts.workerEnv });
  }

  listFolders({ path }: { path?: string }): ApiOutput<"listFolders"> {
    return listFolders(path, { ...process.env, ...this.opts.workerEnv });
  }

  listCachedRepos(): ApiOutput<"listCachedRepos"> {
    return listCached({ ...process.env, ...this.opts.workerEnv });
  }

  startingPoints(): ApiOutput<"startingPoints"> {
    return { models: localModels(this.store, { ...process.env, ...this.opts.workerEnv }), runs: chainableRuns(this.store) };
  }

  /** Download a hub repo into the HF cache; `download` events carry the bytes and ETA. */
  async pullModel({ id, dataset, revision }: { id: string; dataset?: boolean; revision?: string }): Promise<ApiOutput<"pullModel">> {
    const { pullRepo } = await import("../models/pull");
    return pullRepo(
      { repoId: id, type: dataset ? "dataset" : "model", revision: revision ?? null },
      { python: this.opts.python, env: this.opts.workerEnv, onProgress: ({ phase, current, total, unit, elapsed_s, eta_s, message }) => this.publish({ type: "download", repoId: id, progress: { phase, current, total, unit, elapsed_s, eta_s, message } }) },
    );
  }

  /** The request's config, validated, with its `devices` (when given) in place of training.devices. */
  private async loadRunConfig(input: { config?: unknown; configPath?: string; baseDir?: string; devices?: number | "auto" }, method: string): Promise<{ config: RunConfig; source?: string }> {
    if (input.configPath !== undefined) return (await import("../config/file")).loadConfigFile(input.configPath, { devices: input.devices });
    if (input.config !== undefined) return { config: validateConfig(withDevices(input.config, input.devices), { baseDir: input.baseDir }) };
    throw new WhetstoneError({ code: "CONFIG_MISSING", message: `${method} needs \`config\` or \`configPath\`.`, hint: "Pass a config object or a config file path." });
  }

  /** Queue an export of a finished run; resolves with its record (also appended to reports/exports.json). */
  async exportRun(input: Partial<ExportOptions> & Pick<ExportOptions, "format" | "out"> & { id: string }): Promise<ExportRecord> {
    const runId = this.store.resolve(input.id);
    const { id: _, ...rest } = input;
    const command = exportCommand(this.store, runId, ExportOptionsSchema.parse(rest));
    return this.board.task("export", runId, "export", async (signal) => {
      const result = await runWorkerTask(this.board.taskContext(), runId, "export", command, signal);
      const parsed = ExportRecordSchema.omit({ run_id: true, created_at: true }).safeParse(result);
      if (!parsed.success) throw new WhetstoneError({ code: "EXPORT_BAD_RESULT", message: `The worker's export result is malformed: ${parsed.error.issues[0]?.message}`, hint: "This is a bug in Whetstone." });
      // Exported files are for other tools and other users: readable by all (0644 under the usual umask), like a download.
      // Writers that go through a private temp file (0600) would otherwise leave the weights unreadable to them.
      for (const f of parsed.data.files) {
        const file = join(parsed.data.out_dir, f.path);
        if (existsSync(file)) chmodSync(file, 0o644);
      }
      return saveExportRecord(this.store, runId, parsed.data);
    });
  }

  getExports({ id }: { id: string }): ExportRecord[] {
    return loadExports(this.store, this.store.resolve(id));
  }

  /** Cancel a queued or running export of a run; the worker removes its partial files. */
  cancelExport({ id }: { id: string }): { cancelled: boolean } {
    return this.cancelTask({ id, kind: "export" });
  }

  /** Upload a finished run's model and card to a hub repo, beside the queue (its export, if it needs one, is queued). */
  async pushRun(input: ApiInput<"pushRun">): Promise<PushRecord> {
    const runId = this.store.resolve(input.id);
    const { id: _, ...rest } = input;
    const opts = PushOptionsSchema.parse(rest);
    const { pushRun } = await import("../push/push");
    const ctx = { task: this.board.taskContext(), exportRun: (i: ApiInput<"exportRun">) => this.exportRun(i), cancelExport: () => void this.board.cancel("export", runId) };
    return this.board.detached("push", runId, "push", (signal) => pushRun(ctx, runId, opts, signal));
  }

  async getPushes({ id }: { id: string }): Promise<PushRecord[]> {
    return (await import("../push/push")).loadPushes(this.store, this.store.resolve(id));
  }

  /** Judge a finished run against its base or another run; the report is stored in every run involved. */
  async evalRun(input: ApiInput<"evalRun">): Promise<EvalReport> {
    const runId = this.store.resolve(input.id);
    const { id: _, ...rest } = input;
    const opts = EvalOptionsSchema.parse(rest);
    const { evalRun } = await import("../eval/eval");
    return this.board.task("eval", runId, "eval", (signal) => evalRun(this.evalContext(), runId, opts, signal));
  }

  getEval({ id, against }: { id: string; against?: string }): EvalReport | null {
    const ref = against === undefined || against === "base" ? "base" : this.store.resolve(against);
    return loadEvalReport(this.store, this.store.resolve(id), ref);
  }

  /** Judge runs against their bases and each other, rank them, mark the best; stored in every run. */
  async compareRuns(input: ApiInput<"compareRuns">): Promise<CompareReport> {
    const runIds = input.ids.map((r) => this.store.resolve(r));
    const { ids: _, ...rest } = input;
    const opts = CompareOptionsSchema.parse(rest);
    const { compareRuns } = await import("../eval/eval");
    return this.board.task("eval", runIds[0]!, "compare", (signal) => compareRuns(this.evalContext(), runIds, opts, signal));
  }

  getComparison({ id }: { id: string }): CompareReport | null {
    return loadCompareReport(this.store, this.store.resolve(id));
  }

  scoreJudgments({ path, resamples }: ApiInput<"scoreJudgments">): ApiOutput<"scoreJudgments"> {
    return scoreJudgments(path, { resamples });
  }

  /** Answers from a finished run's base and/or tuned model; with `stream`, `token` events as they come. */
  async generate(input: ApiInput<"generate">): Promise<GenerateResult> {
    const runId = this.store.resolve(input.id);
    const { id: _, ...rest } = input;
    const opts = GenerateOptionsSchema.parse(rest);
    const prompts = opts.prompts.map((messages, i) => ({ messages, reference: null, where: `request[${i}]` }));
    return this.board.task("generate", runId, "generate", async (signal) => {
      const { generateAnswers } = await import("../eval/generations");
      const outputs = await generateAnswers(this.board.taskContext(), runId, opts.sides, prompts, "api request", opts, {
        signal,
        stream: opts.stream,
        onEvent: (e) => e.type === "token" && this.publish({ type: "token", runId, side: e.side, index: e.index, text: e.text }),
      });
      return { settings: { max_new_tokens: opts.maxNewTokens, temperature: opts.temperature, top_p: opts.topP, seed: opts.seed }, outputs };
    });
  }

  /** Cancel a queued or running evaluation, comparison, generation or merge of a run; true when there was one. */
  cancelEval({ id }: { id: string }): { cancelled: boolean } {
    const runId = this.store.resolve(id);
    const cancelled = (["eval", "generate", "merge"] as const).map((kind) => this.board.cancel(kind, runId));
    return { cancelled: cancelled.some(Boolean) };
  }

  /** Merge finished runs of one base (soup, greedy soup, DARE) into a new run with lineage. */
  async mergeRuns(input: ApiInput<"mergeRuns">): Promise<MergeResult> {
    const runIds = input.ids.map((r) => this.store.resolve(r));
    const { ids: _, ...rest } = input;
    const opts = MergeOptionsSchema.parse(rest);
    const { mergeRuns, mergeSources } = await import("../merge/merge");
    mergeSources(this.store, runIds); // refuse different bases or unfinished runs before queueing
    return this.board.task("merge", runIds[0]!, "merge", (signal) => mergeRuns(this.evalContext(), runIds, opts, signal));
  }

  private evalContext() {
    return { ...this.board.taskContext(), home: this.store.home };
  }

  /** Resolves with the run's status once it is no longer queued or running. */
  waitForRun(id: string, opts: { pollMs?: number } = {}): Promise<RunStatus> {
    return this.board.waitForRun(this.store.resolve(id), opts);
  }

  /** Plan a sweep (every trial's config validated), write it, and start driving it. */
  async startSweep(input: ApiInput<"startSweep">): Promise<SweepStatus> {
    const { planSweep, newSweepStatus } = await import("../sweep/sweep");
    const { raw, baseDir, configPath, lineOf, defaultName } = (await import("../config/file")).readRawConfig(input, "startSweep", "sweep");
    const { sweep: block, ...rest } = raw;
    const name = input.name ?? (typeof rest.name === "string" && /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(rest.name) ? rest.name : defaultName);
    const request = { raw: rest, baseDir, configPath, name, block, overrides: input.spec ?? {}, lineOf };
    const { spec, trials } = planSweep(request);
    const status = this.sweeps.save(newSweepStatus(this.sweeps, request, spec, trials));
    this.publish({ type: "sweep", sweep: status });
    this.driveSweep(status.id);
    return status;
  }

  private driveSweep(id: string): void {
    const abort = new AbortController();
    const done = import("../sweep/sweep")
      .then(({ driveSweep }) => driveSweep(this, this.sweeps, id, (sweep) => this.publish({ type: "sweep", sweep }), abort.signal))
      .finally(() => this.sweepDrivers.delete(id));
    this.sweepDrivers.set(id, { done, abort });
  }

  getSweep({ id }: { id: string }): SweepStatus {
    return this.sweeps.get(this.sweeps.resolve(id));
  }

  listSweeps(): SweepStatus[] {
    return this.sweeps.list();
  }

  async awaitSweep({ id }: { id: string }): Promise<SweepStatus> {
    const sweepId = this.sweeps.resolve(id);
    return (await this.sweepDrivers.get(sweepId)?.done) ?? this.sweeps.get(sweepId);
  }

  resumeSweep({ id }: { id: string }): SweepStatus {
    const sweepId = this.sweeps.resolve(id);
    const status = this.sweeps.get(sweepId);
    if (this.sweepDrivers.has(sweepId) || status.state === "running" || status.state === "judging") {
      throw new WhetstoneError({ code: "SWEEP_ACTIVE", message: `Sweep ${sweepId} is ${status.state}${status.owner_pid ? ` (process ${status.owner_pid})` : ""}.`, hint: "Wait for it, or cancel it first." });
    }
    if (status.state === "completed") throw new WhetstoneError({ code: "SWEEP_COMPLETED", message: `Sweep ${sweepId} has already completed.`, hint: "Start a new sweep to try other settings." });
    const running = this.sweeps.save({ ...status, state: "running", owner_pid: process.pid, finished_at: null, error: null });
    this.publish({ type: "sweep", sweep: running });
    this.driveSweep(sweepId);
    return running;
  }

  async cancelSweep({ id }: { id: string }): Promise<SweepStatus> {
    const sweepId = this.sweeps.resolve(id);
    const driver = this.sweepDrivers.get(sweepId);
    if (!driver) {
      const status = this.sweeps.get(sweepId);
      if (status.state !== "running" && status.state !== "judging") return status;
      throw new WhetstoneError({ code: "SWEEP_NOT_OURS", message: `Sweep ${sweepId} is driven by another Whetstone process (pid ${status.owner_pid}).`, hint: "Cancel it there (Ctrl-C in its terminal, or its page in the app)." });
    }
    driver.abort.abort();
    return driver.done;
  }

  /** Synthesize rows into a JSONL file (queued like a run task: one job on the device at a time); `synth` events as rows come. */
  async synthData(input: ApiInput<"synthData">): Promise<SynthReport> {
    const opts = SynthOptionsSchema.parse(input);
    const { synthesize } = await import("../synth/synth");
    const ctx = { store: this.store, publish: (e: EngineEvent) => this.publish(e), python: this.opts.python, env: this.opts.workerEnv, deviceLock: this.board.lock() };
    return this.board.task("synth", resolve(opts.out), "synthesis", (signal) => synthesize(ctx, opts, signal), "SYNTH_RUNNING");
  }

  async copySynthTaxonomy({ out }: { out: string }): Promise<{ path: string }> {
    return (await import("../synth/glan")).copyBundledTaxonomy(resolve(out));
  }

  cancelSynth({ out }: { out: string }): { cancelled: boolean } {
    return { cancelled: this.board.cancel("synth", resolve(out)) };
  }

  /** Start self-bootstrapped rounds (engine/rounds): planned and checked now, driven in the background. */
  startRounds(input: ApiInput<"startRounds">): Promise<RoundsStatus> {
    return this.rounds.start(input);
  }

  getRounds({ id }: { id: string }): RoundsStatus {
    return this.rounds.get(id);
  }

  listRounds(): RoundsStatus[] {
    return this.rounds.list();
  }

  awaitRounds({ id }: { id: string }): Promise<RoundsStatus> {
    return this.rounds.wait(id);
  }

  resumeRounds({ id }: { id: string }): RoundsStatus {
    return this.rounds.resume(id);
  }

  cancelRounds({ id }: { id: string }): Promise<RoundsStatus> {
    return this.rounds.cancel(id);
  }

  /** Stop taking work: cancel what runs (it checkpoints) and wait for the queue to drain. */
  async close(): Promise<void> {
    await this.rounds.close();
    for (const { abort } of this.sweepDrivers.values()) abort.abort();
    await Promise.all([...this.sweepDrivers.values()].map((d) => d.done.catch(() => undefined)));
    for (const runId of this.board.trainingRuns()) await this.cancelRun({ id: runId }).catch(() => undefined);
    await this.board.idle();
  }

  /** Validate a request against the contract and call the handler: the one door for HTTP and IPC. */
  async dispatch(method: string, payload: unknown): Promise<unknown> {
    if (!isApiMethod(method)) {
      throw new WhetstoneError({ code: "API_UNKNOWN_METHOD", message: `No API method '${method}'.`, hint: `Methods: ${Object.keys(API).join(", ")}` });
    }
    const parsed = API[method].input.safeParse(payload ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new WhetstoneError({
        code: "API_BAD_REQUEST",
        message: `${method}: ${issue.path.join(".") || "request"}: ${issue.message}`,
        hint: "The request does not match the API contract (engine/api/contract.ts).",
      });
    }
    const handler = this[method] as (input: unknown) => unknown;
    return await handler.call(this, parsed.data);
  }

  call<M extends ApiMethod>(method: M, input: ApiInput<M>): Promise<ApiOutput<M>> {
    return this.dispatch(method, input) as Promise<ApiOutput<M>>;
  }

  private publish(event: EngineEvent): void {
    this.board.publish(event);
  }
}

/** A plan as the API answers it: with its text. */
function shownPlan(plan: RunPlan): ApiOutput<"planRun"> {
  return { ...plan, input: { ...plan.input }, text: formatPlan(plan) };
}
