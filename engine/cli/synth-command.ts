/** `whetstone synth`: synthesize rows into a JSONL file with progress and ETA, then the report (what was written, what was dropped and why). */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { SynthMethod, SynthOptions, SynthReport } from "../synth/schema";
import { WhetstoneError } from "../util/errors";
import { defined } from "./commands";
import { duration } from "./format";
import { EXIT, type Client, type Io } from "./io";
import { RunProgress } from "./progress";

export interface SynthValues {
  json?: boolean;
  method?: string;
  model?: string;
  n?: number;
  out?: string;
  seed?: number;
  seeds?: string;
  k?: number;
  taxonomy?: string;
  syllabus?: string;
  "syllabus-tokens"?: number;
  temperatures?: string;
  "prompt-tokens"?: number;
  "max-tokens"?: number;
  "response-temperature"?: number;
  "top-p"?: number;
  filters?: string;
  "eval-prompts"?: string;
  "eval-run"?: string;
  ngram?: number;
  "max-candidates"?: number;
  responses?: number;
  "response-temperatures"?: string;
  responders?: string;
  select?: string;
  "min-margin"?: number;
  judge?: string;
  "judge-model"?: string;
}

export async function synthCommand(engine: Client, io: Io, v: SynthValues): Promise<number> {
  const missing = (["method", "model", "n", "out"] as const).filter((k) => v[k] === undefined);
  if (missing.length) {
    throw new WhetstoneError({ code: "USAGE", message: `\`whetstone synth\` needs ${missing.map((k) => `--${k}`).join(", ")}.`, hint: "e.g. whetstone synth --method magpie --model DIR --n 1000 --out synth.jsonl" });
  }
  const list = (s: string | undefined) => (s === undefined ? undefined : s.split(",").map((x) => x.trim()).filter(Boolean));
  const numbers = (flag: string, s: string | undefined) =>
    list(s)?.map((t) => {
      const x = Number(t);
      if (!Number.isFinite(x) || x < 0) throw new WhetstoneError({ code: "USAGE", message: `--${flag}: '${t}' is not a temperature.`, hint: `Give numbers ≥ 0 separated by commas, e.g. --${flag} 0.7,1.0,1.3` });
      return x;
    });
  const temperatures = numbers("temperatures", v.temperatures);
  const model = modelOrRun(v.model!);
  const responders = (list(v.responders) ?? []).map(modelOrRun);
  const out = resolve(v.out!);
  const options = {
    method: v.method as SynthMethod,
    n: v.n!,
    out,
    ...(model.model !== null ? { model: model.model } : { run: model.run! }),
    ...defined({
      seed: v.seed,
      seeds: v.seeds === undefined ? undefined : resolve(v.seeds),
      k: v.k,
      taxonomy: v.taxonomy === undefined ? undefined : resolve(v.taxonomy),
      syllabus: v.syllabus as SynthOptions["syllabus"] | undefined,
      syllabusTokens: v["syllabus-tokens"],
      temperatures,
      promptTokens: v["prompt-tokens"],
      maxNewTokens: v["max-tokens"],
      responseTemperature: v["response-temperature"],
      topP: v["top-p"],
      filters: list(v.filters) as SynthOptions["filters"] | undefined,
      evalPrompts: v["eval-prompts"] === undefined ? undefined : resolve(v["eval-prompts"]),
      evalRun: v["eval-run"],
      ngram: v.ngram,
      maxCandidates: v["max-candidates"],
      responses: v.responses,
      responseTemperatures: numbers("response-temperatures", v["response-temperatures"]),
      responderModels: responders.some((r) => r.model) ? responders.flatMap((r) => (r.model ? [r.model] : [])) : undefined,
      responderRuns: responders.some((r) => r.run) ? responders.flatMap((r) => (r.run ? [r.run] : [])) : undefined,
      select: v.select as SynthOptions["select"] | undefined,
      minMargin: v["min-margin"],
      judge: v.judge === undefined || /^https?:\/\//i.test(v.judge) ? v.judge : resolve(v.judge),
      judgeModel: v["judge-model"],
    }),
  };
  const progress = new RunProgress(`synth:${out}`, io.out);
  const unsubscribe = engine.subscribe((e) => e.type === "synth" && e.out === out && progress.handle({ type: "progress", runId: `synth:${out}`, progress: e.progress }));
  io.onInterrupt(() => {
    progress.line("Stopping the synthesis; the rows written stay, and the same command continues after them.");
    void engine.call("cancelSynth", { out });
  });
  io.out.write(`synthesizing ${v.n} rows with ${v.method} from ${model.model ?? `run ${v.model}`} into ${out}\n`);
  let report: SynthReport;
  try {
    report = await engine.call("synthData", options);
  } catch (e) {
    if ((e as { code?: string }).code !== "CANCELLED") throw e;
    io.err(`${(e as Error).message}\n`);
    return EXIT.cancelled;
  } finally {
    progress.finish();
    unsubscribe();
  }
  if (v.json) io.out.write(JSON.stringify(report, null, 2) + "\n");
  else io.out.write(formatSynthReport(report) + "\n");
  return report.complete ? EXIT.ok : EXIT.failed;
}

/** A folder when there is one, a cached hub model when it has a slash (run names never do), else a run. */
function modelOrRun(value: string): { model: string | null; run: string | null } {
  if (existsSync(value) && statSync(value).isDirectory()) return { model: resolve(value), run: null };
  return /[\\/]/.test(value) ? { model: value, run: null } : { model: null, run: value };
}

export function formatSynthReport(r: SynthReport): string {
  const dropped = Object.entries(r.filtered).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
  const lines = [
    `${r.out}: ${r.rows} of ${r.requested} rows (${r.written} written now${r.resumed ? `, ${r.resumed} there before` : ""}) in ${duration(r.elapsed_s)}`,
    `  candidates   ${r.candidates} tried (next index ${r.next_index})`,
    `  filtered     ${dropped.length ? dropped.join(", ") : "none"}`,
    `  duplicates   ${r.duplicates.rows} of earlier rows${r.method === "fewshot" ? `, ${r.duplicates.seeds} of the seeds` : ""}`,
    `  decontam.    ${r.eval_prompts ? `${r.decontaminated} overlapping the ${r.eval_prompts} evaluation prompts` : "no evaluation prompts given (--eval-prompts FILE, --eval-run RUN)"}`,
  ];
  const sel = r.selection;
  if (sel) {
    const sources = [...new Set(sel.sources.map((s) => `${s.source} at ${s.temperature}`))].join(", ");
    lines.push(`  selection    ${sel.select}: best of ${sel.responses} answers (${sources}), judged by ${sel.judge}: ${sel.judged} prompts, ${sel.pairs_judged} pairs`);
    if (sel.too_few_responses) lines.push(`               ${sel.too_few_responses} prompts with fewer than two usable answers (counted in filtered)`);
    if (sel.select === "pairs") lines.push(`               ${sel.below_margin} pairs below the margin ${sel.min_margin}`);
  }
  const syl = r.syllabus;
  if (syl) {
    lines.push(`  syllabi      ${syl.subjects} subjects: ${syl.listed} with their listed topics, ${syl.drafted} drafted now, ${syl.reused} read from ${syl.file ?? "the syllabus file"}; ${syl.sessions} sessions, ${syl.concepts} key concepts`);
    if (syl.unreadable) lines.push(`               ${syl.unreadable} drafts with no readable session (each subject stands alone; its draft is in the syllabus file to fix)`);
    if (syl.unread_lines) lines.push(`               ${syl.unread_lines} lines of the drafts read as neither a session nor a concept`);
  }
  if (r.torn_line_removed) lines.push("  a half-written last line (from an interrupted run) was removed first");
  if (!r.complete) {
    const worst = Object.entries(r.filtered).sort((a, b) => b[1] - a[1])[0];
    lines.push(
      `✗ stopped after ${r.candidates} candidates with ${r.rows} of ${r.requested} rows` +
        (worst && worst[1] > 0 ? `: most were ${worst[0]}${worst[0] === "truncated" ? " (raise --prompt-tokens or --max-tokens)" : ""}` : "") +
        `; rerun with --max-candidates to go on.`,
    );
  }
  return lines.join("\n");
}
