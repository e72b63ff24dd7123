/**
 * `whetstone push RUN --repo OWNER/NAME`: a finished run's model and its model card on the Hugging
 * Face Hub, through the worker's `push` command (huggingface_hub; see its module for the hub side).
 *
 * Which files: the newest export of the format whose folder is still whole (every recorded file
 * there with its recorded size) is uploaded as it is. Without one, the repo is checked first (a
 * `push` with check_only: token, owner, visibility; seconds), then the run is exported into
 * `<run>/push/<format>/` through exportRun (queued like any export and recorded in exports.json, so
 * the next push reuses it), then uploaded. A wrong repo therefore fails before a long export.
 *
 * The push runs beside the job queue (JobBoard.detached): it holds no device, and an upload can take
 * hours that a training should not wait. Its worker is spawned with the token and online, without
 * torch (as a pull's is), its progress goes out as the run's `progress` events and its lines into the run's log; the
 * result is appended to reports/pushes.json. Cancelling stops the export or the upload; what the hub
 * already stored stays there and the next push does not send it again.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { cardFacts, exportCommand, loadExports } from "../export/export";
import type { ExportOptions, ExportRecord } from "../export/schema";
import type { Command } from "../protocol/messages";
import type { RunStore } from "../runs/store";
import { hubOnlyWorkerEnv } from "../secrets/token";
import { runWorkerTask, type TaskContext } from "../jobs/worker-task";
import { appendRecord, readRecords } from "../util/records";
import { WhetstoneError } from "../util/errors";
import { PushRecordSchema, type PushOptions, type PushRecord } from "./schema";

export { PushOptionsSchema, PushRecordSchema, type PushOptions, type PushRecord } from "./schema";

export interface PushContext {
  /** The board's task context; the push drops the device lock and spawns its own online worker. */
  task: TaskContext;
  /** The engine's exportRun (queued, recorded), for a run with no reusable export of the format. */
  exportRun: (input: Pick<ExportOptions, "format" | "out" | "overwrite"> & { id: string }) => Promise<ExportRecord>;
  cancelExport: () => void;
}

export function pushesPath(store: Pick<RunStore, "runDir">, runId: string): string {
  return join(store.runDir(runId), "reports", "pushes.json");
}

/** Where a push exports a run that has no export of the format yet. */
export function stagingFolder(store: Pick<RunStore, "runDir">, runId: string, format: PushOptions["format"]): string {
  return join(store.runDir(runId), "push", format);
}

/** The newest export of `format` whose folder still holds every file it wrote, at its size; else null. */
export function reusableExport(store: RunStore, runId: string, format: PushOptions["format"]): ExportRecord | null {
  const whole = (r: ExportRecord) =>
    r.files.every((f) => {
      const path = join(r.out_dir, f.path);
      return existsSync(path) && statSync(path).size === f.bytes;
    });
  return [...loadExports(store, runId)].reverse().find((r) => r.format === format && whole(r)) ?? null;
}

export async function pushRun(ctx: PushContext, runId: string, opts: PushOptions, signal: AbortSignal): Promise<PushRecord> {
  const { store } = ctx.task;
  const task: TaskContext = { ...ctx.task, deviceLock: undefined, fork: false, workerEnv: hubOnlyWorkerEnv(ctx.task.workerEnv) };
  let exported = reusableExport(store, runId, opts.format);
  const exporting = exported === null;
  if (exported === null) {
    const out = stagingFolder(store, runId, opts.format);
    exportCommand(store, runId, { format: opts.format, out, dtype: null, quantization: null, shardSizeMb: 5000, overwrite: true }); // refuses an unfinished run, or an adapter of a full fine-tune, now
    await runWorkerTask(task, runId, "push", command(store, runId, opts, null), signal);
    const onAbort = () => ctx.cancelExport();
    signal.addEventListener("abort", onAbort);
    try {
      exported = await ctx.exportRun({ id: runId, format: opts.format, out, overwrite: true });
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }
  const result = await runWorkerTask(task, runId, "push", command(store, runId, opts, exported), signal);
  const record = PushRecordSchema.safeParse({ ...result, run_id: runId, created_at: new Date().toISOString(), format: opts.format, folder: exported.out_dir, exported: exporting });
  if (!record.success) throw new WhetstoneError({ code: "PUSH_BAD_RESULT", message: `The worker's push result is malformed: ${record.error.issues[0]?.message}`, hint: "This is a bug in Whetstone." });
  return appendRecord(pushesPath(store, runId), record.data);
}

export function loadPushes(store: RunStore, runId: string): PushRecord[] {
  return readRecords<PushRecord>(pushesPath(store, runId));
}

/** The worker's `push` command: the checks alone (`exported` null), or the upload of that export with its card. */
function command(store: RunStore, runId: string, opts: PushOptions, exported: ExportRecord | null): (id: string) => Command {
  const card = cardFacts(store, runId);
  return (id) => ({
    v: 1,
    type: "push",
    id,
    repo_id: opts.repo,
    folder: exported?.out_dir ?? null,
    check_only: exported === null,
    private: opts.private,
    endpoint: null,
    commit_message: `Upload ${String(card.name ?? runId)} (Whetstone run ${runId}, ${opts.format})`,
    card,
    export: exported && { format: exported.format, dtype: exported.dtype, quantization: exported.quantization, parameters: exported.parameters, checks: exported.checks },
  });
}

/** The summary `whetstone push` prints. */
export function formatPush(record: PushRecord): string {
  const mb = (n: number) => `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 2)} MB`;
  const kept = record.already_on_hub.length ? `; ${record.already_on_hub.length} already on the hub (${record.already_on_hub.join(", ")})` : "";
  const sent = record.already_on_hub.length === record.files ? "all already on the hub: nothing sent, no new commit" : `${mb(record.uploaded_bytes)} sent in ${record.seconds.toFixed(1)} s${kept}`;
  return [
    `pushed ${record.run_id} (${record.format}) to ${record.url}${record.private ? " (private)" : ""}${record.created ? ", a new repo" : ""}`,
    `  ${record.files} files, ${mb(record.bytes)}; ${sent}`,
    `  commit ${record.commit_url}`,
    `  from ${record.folder}${record.exported ? " (exported for this push)" : " (an earlier export)"}`,
  ].join("\n");
}
