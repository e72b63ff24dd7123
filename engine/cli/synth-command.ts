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
}

export async function synthCommand(engine: Client, io: Io, v: SynthValues): Promise<number> {
  const missing = (["method", "model", "n", "out"] as const).filter((k) => v[k] === undefined);
  if (missing.length) {
    throw new WhetstoneError({ code: "USAGE", message: `\`whetstone synth\` needs ${missing.map((k) => `--${k}`).join(", ")}.`, hint: "e.g. whetstone synth --method magpie --model DIR --n 1000 --out synth.jsonl" });
  }
  const list = (s: string | undefined) => (s === undefined ? undefined : s.split(",").map((x) => x.trim()).filter(Boolean));
  const temperatures = list(v.temperatures)?.map((t) => {
    const x = Number(t);
    if (!Number.isFinite(x) || x < 0) throw new WhetstoneError({ code: "USAGE", message: `--temperatures: '${t}' is not a temperature.`, hint: "Give numbers ≥ 0 separated by commas, e.g. --temperatures 0.7,1.0,1.3" });
    return x;
  });
  // --model names a folder when there is one, a cached hub model when it has a slash (run names never do), else a run.
  const folder = existsSync(v.model!) && statSync(v.model!).isDirectory();
  const model = folder ? resolve(v.model!) : /[\\/]/.test(v.model!) ? v.model! : null;
  const out = resolve(v.out!);
  const options = {
    method: v.method as SynthMethod,
    n: v.n!,
    out,
    ...(model !== null ? { model } : { run: v.model! }),
    ...defined({
      seed: v.seed,
      seeds: v.seeds === undefined ? undefined : resolve(v.seeds),
      k: v.k,
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
    }),
  };
  const progress = new RunProgress(`synth:${out}`, io.out);
  const unsubscribe = engine.subscribe((e) => e.type === "synth" && e.out === out && progress.handle({ type: "progress", runId: `synth:${out}`, progress: e.progress }));
  io.onInterrupt(() => {
    progress.line("Stopping the synthesis; the rows written stay, and the same command continues after them.");
    void engine.call("cancelSynth", { out });
  });
  io.out.write(`synthesizing ${v.n} rows with ${v.method} from ${model ?? `run ${v.model}`} into ${out}\n`);
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

export function formatSynthReport(r: SynthReport): string {
  const dropped = Object.entries(r.filtered).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
  const lines = [
    `${r.out}: ${r.rows} of ${r.requested} rows (${r.written} written now${r.resumed ? `, ${r.resumed} there before` : ""}) in ${duration(r.elapsed_s)}`,
    `  candidates   ${r.candidates} tried (next index ${r.next_index})`,
    `  filtered     ${dropped.length ? dropped.join(", ") : "none"}`,
    `  duplicates   ${r.duplicates.rows} of earlier rows${r.method === "fewshot" ? `, ${r.duplicates.seeds} of the seeds` : ""}`,
    `  decontam.    ${r.eval_prompts ? `${r.decontaminated} overlapping the ${r.eval_prompts} evaluation prompts` : "no evaluation prompts given (--eval-prompts FILE, --eval-run RUN)"}`,
  ];
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
