/**
 * GLAN's syllabi (arXiv 2402.13064): for each subject of the taxonomy the model drafts a syllabus,
 * class sessions each with its key concepts, which the instructions are then drawn from (glan.ts).
 *
 * The drafts live in a YAML file beside the output (`glan.jsonl` → `glan.syllabus.yaml`), written
 * as each subject's draft arrives (temp file + rename, so a kill leaves the old file or the new one),
 * and read back first on every call: a rerun, a resume after a cancel, or a synthesis the user
 * steered by editing the sessions and concepts never redrafts a subject that is in it. A subject is
 * drafted only when it is missing (added to the taxonomy since, or its entry deleted to redraft);
 * adding it edits the parsed document, so the user's comments and edits stay. Which subjects are
 * drafted at all is the `syllabus` option's: keep (a subject's listed topics are its sessions: the
 * user's word wins) or draft (every subject, asked to cover its listed topics).
 *
 * A draft is free text (syllabus-parse.ts reads it); one with no readable session is drafted once
 * more with another seed, and if that fails too its text is kept in the file for the user to see
 * and the subject stands as one session on itself. That is counted in the report, never an error:
 * a small model's messy output must not stop a long synthesis.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Document, isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLSeq } from "yaml";
import type { ProgressInfo } from "../api/events";
import { WhetstoneError } from "../util/errors";
import type { Course, Subject } from "./glan";
import type { SynthReport } from "./schema";
import type { Answerer } from "./select";
import { parseSyllabus, type Session } from "./syllabus-parse";
import { runSynthWorker, type SynthWorkerContext } from "./worker";

/** What the file holds per drafted subject. */
export interface DraftedEntry {
  discipline: string;
  subject: string;
  sessions: Session[];
  /** The entry's line in the syllabus file (0 before it is written). */
  line: number;
}

const DRAFT_TEMPERATURE = 0.7;
const DRAFT_ATTEMPTS = 2;
/** Attempt a of subject k samples with seed + k + a · 2^20 (the worker adds the index to the seed). */
const ATTEMPT_STRIDE = 2 ** 20;

export function syllabusPath(out: string): string {
  return join(dirname(out), `${basename(out).replace(/\.(jsonl|ndjson)$/i, "")}.syllabus.yaml`);
}

/** The request for a subject's syllabus (GLAN's, in a shape a small model can follow). */
export function syllabusRequest(subject: Subject): string {
  const cover = subject.topics.length ? `\nIt must cover these topics: ${subject.topics.map((t) => t.topic).join("; ")}.\n` : "";
  return (
    `You are a teacher designing a course on ${subject.subject}, part of ${subject.discipline}, for students new to it.\n${cover}\n` +
    "Write the syllabus as a numbered list of 6 to 10 class sessions, from the basics to harder material. " +
    "Give each session a short title, and under it, as a bulleted list, 3 to 6 key concepts the session teaches. " +
    "Write nothing else: no introduction, no objectives, no readings."
  );
}

const key = (discipline: string, subject: string) => `${discipline}\u0000${subject}`;

const HEADER = (out: string) =>
  ` The syllabus of each subject of the taxonomy, drafted by the model for ${basename(out)} (whetstone synth, glan).\n` +
  " Each session has a title and key concepts; each instruction is drawn from concepts of one or two sessions.\n" +
  " Edit freely: the next synthesis into that file reads this one and drafts only subjects missing from it\n" +
  " (delete a subject's entry to have it drafted again). Entries with no sessions are drafts that could not be\n" +
  " read (the draft is kept below them): such a subject stands as one session on itself until you fill it in.";

/** The syllabus file, read (entries checked, each with its line) or new; `add` + `save` write it back. */
export class SyllabusFile {
  readonly entries = new Map<string, DraftedEntry>();
  private readonly doc: Document;

  constructor(
    readonly path: string,
    out: string,
  ) {
    if (!existsSync(path)) {
      this.doc = new Document({ subjects: [] });
      this.doc.commentBefore = HEADER(out);
      return;
    }
    const lines = new LineCounter();
    this.doc = parseDocument(readFileSync(path, "utf8").replace(/^\uFEFF/, ""), { lineCounter: lines, prettyErrors: false });
    const bad = (what: string, line: number) =>
      new WhetstoneError({
        code: "SYNTH_SYLLABUS_INVALID",
        message: `${path}:${line}: ${what}`,
        hint: "Each entry under `subjects:` has a discipline, a subject and its sessions, each a title and a list of concepts:\n  - discipline: Mathematics\n    subject: Algebra\n    sessions:\n      - title: Linear equations\n        concepts: [slope, intercept]\nFix the line shown, or delete the file to have every syllabus drafted again.",
        where: `${path}:${line}`,
      });
    const lineOf = (node: unknown, fallback = 1) => ((node as Node | null)?.range ? lines.linePos((node as Node).range![0]).line : fallback);
    if (this.doc.errors.length > 0) throw bad(`not valid YAML: ${this.doc.errors[0]!.message.split("\n")[0]}`, lines.linePos(this.doc.errors[0]!.pos[0]).line);
    const subjects = isMap(this.doc.contents) ? this.doc.contents.get("subjects", true) : null;
    if (!isSeq(subjects)) throw bad("the file should be a mapping with `subjects:`, a list of drafted syllabi.", lineOf(this.doc.contents));
    const text = (node: unknown, what: string, line: number): string => {
      const value = isScalar(node) ? node.value : node;
      if (typeof value !== "string" && typeof value !== "number") throw bad(`${what} should be text.`, line);
      const t = String(value).trim();
      if (!t) throw bad(`${what} is empty.`, line);
      return t;
    };
    for (const item of subjects.items) {
      const line = lineOf(item, lineOf(subjects));
      if (!isMap(item)) throw bad("each entry should be a mapping with discipline, subject and sessions.", line);
      const discipline = text(item.get("discipline", true), "discipline", line);
      const subject = text(item.get("subject", true), `the subject (of ${discipline})`, line);
      const sessions = item.get("sessions", true);
      const list = sessions === undefined || (isScalar(sessions) && sessions.value === null) ? [] : isSeq(sessions) ? sessions.items : null;
      if (list === null) throw bad(`the sessions of "${subject}" should be a list.`, lineOf(sessions, line));
      const parsed: Session[] = list.map((s) => {
        const sLine = lineOf(s, line);
        if (!isMap(s)) throw bad(`a session of "${subject}" should be a mapping with a title and concepts.`, sLine);
        const title = text(s.get("title", true), `a session title of "${subject}"`, sLine);
        const concepts = s.get("concepts", true);
        const cs = concepts === undefined || (isScalar(concepts) && concepts.value === null) ? [] : isSeq(concepts) ? concepts.items.map((c) => text(c, `a concept of "${title}"`, lineOf(c, sLine))) : null;
        if (cs === null) throw bad(`the concepts of "${title}" should be a list.`, lineOf(concepts, sLine));
        return { title, concepts: cs.length ? cs : [title] };
      });
      if (this.entries.has(key(discipline, subject))) throw bad(`"${subject}" (in ${discipline}) has two entries.`, line);
      this.entries.set(key(discipline, subject), { discipline, subject, sessions: parsed, line });
    }
  }

  get(subject: Subject): DraftedEntry | undefined {
    return this.entries.get(key(subject.discipline, subject.subject));
  }

  add(subject: Subject, sessions: Session[], draft: string, unread: number): void {
    const node: Record<string, unknown> = { discipline: subject.discipline, subject: subject.subject, sessions };
    if (sessions.length === 0) node.draft = draft;
    else if (unread > 0) node.unread_lines = unread;
    const list = this.doc.get("subjects", true) as YAMLSeq;
    list.flow = false; // one entry a block, as a person edits it (a new file's empty list would print as [])
    list.add(this.doc.createNode(node));
    this.entries.set(key(subject.discipline, subject.subject), { discipline: subject.discipline, subject: subject.subject, sessions, line: 0 });
  }

  save(): void {
    const temp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(temp, this.doc.toString({ lineWidth: 0 }));
    renameSync(temp, this.path);
  }
}

export interface DraftContext extends SynthWorkerContext {
  out: string;
  writer: Answerer;
  signal?: AbortSignal;
}

/**
 * The courses candidates are drawn from: listed topics kept (syllabus keep), the rest from the
 * syllabus file, drafting what it lacks first. Resolves with the report's `syllabus` counts.
 */
export async function prepareCourses(ctx: DraftContext, subjects: Subject[]): Promise<{ courses: Course[]; counts: NonNullable<SynthReport["syllabus"]> }> {
  const drafts = subjects.filter((s) => ctx.opts.syllabus === "draft" || s.topics.length === 0);
  const file = drafts.length ? new SyllabusFile(syllabusPath(ctx.out), ctx.out) : null;
  const counts = { file: file?.path ?? null, subjects: subjects.length, listed: subjects.length - drafts.length, drafted: 0, reused: 0, unreadable: 0, sessions: 0, concepts: 0, unread_lines: 0 };
  const missing = drafts.filter((s) => !file!.get(s));
  counts.reused = drafts.length - missing.length;
  if (missing.length) {
    const ordinal = new Map(subjects.map((s, k) => [s, k]));
    let pending = missing;
    const started = performance.now();
    let done = 0;
    for (let attempt = 0; attempt < DRAFT_ATTEMPTS && pending.length; attempt++) {
      const retry: Subject[] = [];
      const last = attempt === DRAFT_ATTEMPTS - 1;
      ctx.publish(draftProgress(done, missing.length, started, "Drafting the syllabus of each subject"));
      await draftWorker(ctx, pending.map((s) => ({ index: ordinal.get(s)! + attempt * ATTEMPT_STRIDE, kind: "chat" as const, prefix: syllabusRequest(s), temperature: DRAFT_TEMPERATURE })), (index, draft) => {
        const subject = subjects[index % ATTEMPT_STRIDE]!;
        const parsed = parseSyllabus(draft);
        counts.unread_lines += parsed.unread;
        if (parsed.sessions.length === 0 && !last) return void retry.push(subject);
        file!.add(subject, parsed.sessions, draft, parsed.unread);
        file!.save();
        counts.drafted++;
        done++;
        ctx.publish(draftProgress(done, missing.length, started, `Drafted the syllabus of ${subject.subject} (${done} of ${missing.length} subjects)`));
      });
      pending = retry;
    }
  }
  const courses = subjects.map((s): Course => {
    const entry = file?.get(s);
    if (!entry) return { discipline: s.discipline, subject: s.subject, line: s.line, source: "topics", sessions: s.topics.map((t) => ({ title: t.topic, concepts: [t.topic], line: t.line })) };
    if (entry.sessions.length === 0) {
      counts.unreadable++;
      return { discipline: s.discipline, subject: s.subject, line: s.line, source: "subject", sessions: [{ title: s.subject, concepts: [s.subject], line: s.line }] };
    }
    return { discipline: s.discipline, subject: s.subject, line: s.line, source: "drafted", sessions: entry.sessions.map((x) => ({ ...x, line: s.line })) };
  });
  counts.sessions = courses.reduce((a, c) => a + c.sessions.length, 0);
  counts.concepts = courses.reduce((a, c) => a + c.sessions.reduce((b, x) => b + x.concepts.length, 0), 0);
  return { courses, counts };
}

function draftProgress(done: number, total: number, started: number, message: string): ProgressInfo {
  const elapsed = (performance.now() - started) / 1000;
  return { phase: "syllabus", current: done, total, unit: "subjects", elapsed_s: elapsed, eta_s: done > 0 ? ((total - done) * elapsed) / done : null, message };
}

/** The worker's synth command with prompts only (no answers): each candidate's "prompt" is a draft. */
async function draftWorker(ctx: DraftContext, candidates: { index: number; kind: "chat"; prefix: string; temperature: number }[], onDraft: (index: number, draft: string) => void): Promise<void> {
  const retry = "Run the same command again: the syllabi drafted so far are kept, and the rows continue after the last one written.";
  const job = { label: "syllabus", answerer: ctx.writer, candidates, responses: [{ temperature: 0, seed_offset: 0 }], stopTexts: [], promptTokens: ctx.opts.syllabusTokens, responseTokens: 0, answerTruncated: true, retry };
  await runSynthWorker(ctx, job, (e) => onDraft(e.index, e.prompt), ctx.signal).catch((e: unknown) => {
    if (ctx.signal?.aborted) throw ctx.cancelled();
    throw e;
  });
}
