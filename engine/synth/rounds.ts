/**
 * One round of candidates, two ways. Without selection (one answer each) the worker's candidates are
 * decided and written as they stream in, and the worker is stopped as soon as the file holds n rows.
 * With selection (2+ answers) a round is decided in stages: the prompt writer's candidates with its
 * answers, then each other answerer (a model folder or a run) answering the prompts that passed, then
 * the judge over every prompt's answers at once, and only then the rows, in index order. Both write in
 * index order and decide a candidate from its own text and the rows before it, so the file does not
 * depend on round sizes, cancels or resumes.
 */
import type { JudgeTarget } from "../judge/types";
import { dropReason } from "./filters";
import type { Provenance, RowWriter } from "./output";
import type { SynthFilter, SynthReport } from "./schema";
import { scoreAll, type Answer, type Answerer, type ResponseSpec } from "./select";
import type { Contamination, NearDuplicates } from "./text";
import { runSynthWorker, type CandidateEvent, type SynthWorkerContext, type WorkerCandidate } from "./worker";

/** What the round shares with the synthesis: its options, state and where things go. */
export interface RoundContext extends SynthWorkerContext {
  report: SynthReport;
  writer: RowWriter;
  duplicates: NearDuplicates<"seeds" | "rows">;
  contamination: Contamination;
  enabled: ReadonlySet<SynthFilter>;
  stopTexts: string[];
  answerers: Answerer[];
  specs: ResponseSpec[];
  judge: JudgeTarget | null;
  signal?: AbortSignal;
  /** The provenance of candidate `index` before its answers: method, model, seed, index, temperature, what it was shown. */
  provenance: (index: number) => Provenance;
  started: number;
}

const RETRY = "Run the same command again: it continues after the last row written.";

/** Run the synth command on one answerer; `onEvent` gets each candidate in index order. */
function runWorker(round: RoundContext, answerer: Answerer, candidates: WorkerCandidate[], specs: ResponseSpec[], onEvent: (e: CandidateEvent) => void, signal?: AbortSignal): Promise<void> {
  const { opts } = round;
  const responses = specs.map((s) => ({ temperature: s.temperature, seed_offset: s.seed_offset }));
  const job = { label: "synth", answerer, candidates, responses, stopTexts: round.stopTexts, promptTokens: opts.promptTokens, responseTokens: opts.maxNewTokens, answerTruncated: !round.enabled.has("truncated"), retry: RETRY };
  return runSynthWorker(round, job, onEvent, signal);
}

function rowsProgress(round: RoundContext): void {
  const { report, opts } = round;
  const elapsed = (performance.now() - round.started) / 1000;
  round.publish({
    phase: "synth",
    current: report.rows,
    total: opts.n,
    unit: "rows",
    elapsed_s: elapsed,
    eta_s: report.written > 0 ? ((opts.n - report.rows) * elapsed) / report.written : null,
    message: `${report.rows} of ${opts.n} rows (${report.candidates} candidates, ${report.candidates - report.written} dropped)`,
  });
}

function message(role: "user" | "assistant", content: string) {
  return [{ role, content }];
}

/** One answer per candidate, decided and written as the worker sends them. */
export async function streamRound(round: RoundContext, candidates: WorkerCandidate[]): Promise<void> {
  const { report, opts, signal } = round;
  const enough = new AbortController();
  const onCancel = () => enough.abort();
  signal?.addEventListener("abort", onCancel);
  const consider = (e: CandidateEvent) => {
    if (report.rows >= opts.n || signal?.aborted) return; // the round's rest, after the last row needed or a cancel
    report.candidates++;
    report.next_index = e.index + 1;
    const reason = dropReason(e, round.enabled, true);
    const duplicate = reason === null ? round.duplicates.find(e.prompt) : null;
    if (reason !== null) report.filtered[reason]++;
    else if (round.contamination.overlaps(e.prompt)) report.decontaminated++;
    else if (duplicate !== null) report.duplicates[duplicate]++;
    else {
      const provenance = { ...round.provenance(e.index), response_temperature: round.specs[0]!.temperature };
      round.writer.append({ messages: [...message("user", e.prompt), ...message("assistant", e.response ?? "")], synth: provenance });
      round.duplicates.add(e.prompt, "rows");
      report.rows++;
      report.written++;
    }
    rowsProgress(round);
    if (report.rows >= opts.n) enough.abort();
  };
  try {
    await runWorker(round, round.answerers[0]!, candidates, round.specs, consider, enough.signal);
  } catch (e) {
    if (signal?.aborted) throw round.cancelled();
    if (!(report.rows >= opts.n && (e as { code?: string }).code === "CANCELLED")) throw e;
  } finally {
    signal?.removeEventListener("abort", onCancel);
  }
}

interface Decided {
  event: CandidateEvent;
  /** Why it is dropped before judging (a filter, or an evaluation-prompt overlap). */
  drop: SynthFilter | "decontaminated" | null;
  tooFew: boolean;
  answers: Map<number, { text: string; finish: "stop" | "length" }>;
  usable: Answer[];
  scores?: Awaited<ReturnType<typeof scoreAll>>["scored"][number];
}

/** Several answers per candidate: generate, answer with every source, judge, then write in index order. */
export async function selectRound(round: RoundContext, candidates: WorkerCandidate[]): Promise<void> {
  const { report, opts, specs, signal } = round;
  const decided: Decided[] = [];
  const mine = specs.filter((s) => s.answerer === 0);
  await runWorker(round, round.answerers[0]!, candidates, mine.length ? mine : [specs[0]!], (event) => {
    const drop = dropReason({ ...event, response: null, response_finish: null }, round.enabled, false) ?? (round.contamination.overlaps(event.prompt) ? "decontaminated" : null);
    const answers = new Map(drop === null && mine.length ? event.responses.map((r, i) => [mine[i]!.j, { text: r.text, finish: r.finish }] as const) : []);
    decided.push({ event, drop, tooFew: false, answers, usable: [] });
  }, signal).catch(rethrow(round));
  const open = decided.filter((d) => d.drop === null);
  for (let a = 1; a < round.answerers.length && open.length; a++) {
    const theirs = specs.filter((s) => s.answerer === a);
    if (!theirs.length) continue;
    const byIndex = new Map(open.map((d) => [d.event.index, d]));
    const given = open.map((d) => ({ index: d.event.index, kind: "prompt" as const, prefix: d.event.prompt, temperature: 0 }));
    await runWorker(round, round.answerers[a]!, given, theirs, (event) => {
      event.responses.forEach((r, i) => byIndex.get(event.index)!.answers.set(theirs[i]!.j, { text: r.text, finish: r.finish }));
    }, signal).catch(rethrow(round));
  }
  for (const d of open) {
    let firstBad: SynthFilter | null = null;
    for (const spec of specs) {
      const answer = d.answers.get(spec.j);
      const reason = answer ? dropReason({ ...d.event, response: answer.text, response_finish: answer.finish }, round.enabled, true) : "truncated";
      if (reason === null) d.usable.push({ j: spec.j, text: answer!.text });
      else firstBad ??= reason;
    }
    if (d.usable.length < 2) Object.assign(d, { drop: firstBad ?? "empty", tooFew: true });
  }
  const judged = open.filter((d) => d.drop === null);
  const { scored, pairs } = await scoreAll(round.judge!, judged.map((d) => ({ prompt: d.event.prompt, answers: d.usable })), {
    signal,
    onProgress: (done, total, elapsed, eta) => round.publish({ phase: "judge", current: done, total, unit: "pairs", elapsed_s: elapsed, eta_s: eta, message: `Judged ${done} of ${total} pairs of answers (both orders each)` }),
  }).catch(rethrow(round));
  judged.forEach((d, i) => (d.scores = scored[i]));
  const selection = report.selection!;
  selection.judged += judged.length;
  selection.pairs_judged += pairs;
  for (const d of decided.sort((x, y) => x.event.index - y.event.index)) {
    if (report.rows >= opts.n) break;
    if (signal?.aborted) throw round.cancelled();
    report.candidates++;
    report.next_index = d.event.index + 1;
    write(round, d);
    rowsProgress(round);
  }
}

function write(round: RoundContext, d: Decided): void {
  const { report, opts } = round;
  const selection = report.selection!;
  const prompt = d.event.prompt;
  if (d.drop === "decontaminated") return void report.decontaminated++;
  if (d.drop !== null) {
    report.filtered[d.drop]++;
    if (d.tooFew) selection.too_few_responses++;
    return;
  }
  const duplicate = round.duplicates.find(prompt);
  if (duplicate !== null) return void report.duplicates[duplicate]++;
  const { scores, best, worst, margin } = d.scores!;
  const text = (j: number) => d.usable.find((a) => a.j === j)!.text;
  if (opts.select === "pairs" && (margin < opts.minMargin || text(best) === text(worst))) return void selection.below_margin++;
  const spec = (j: number) => round.specs[j]!;
  const provenance: Provenance = {
    ...round.provenance(d.event.index),
    response_temperature: spec(best).temperature,
    selection: opts.select,
    judge: selection.judge,
    chosen: best,
    ...(opts.select === "pairs" ? { rejected: worst } : {}),
    margin,
    responses: round.specs.map((s) => ({
      j: s.j,
      source: round.answerers[s.answerer]!.label,
      temperature: s.temperature,
      score: scores.get(s.j) ?? null,
      text: d.answers.get(s.j)?.text ?? null,
    })),
  };
  const row =
    opts.select === "pairs"
      ? { prompt: message("user", prompt), chosen: message("assistant", text(best)), rejected: message("assistant", text(worst)), synth: provenance }
      : { messages: [...message("user", prompt), ...message("assistant", text(best))], synth: provenance };
  round.writer.append(row);
  round.duplicates.add(prompt, "rows");
  report.rows++;
  report.written++;
}

function rethrow(round: RoundContext) {
  return (e: unknown): never => {
    if (round.signal?.aborted) throw round.cancelled();
    throw e;
  };
}
