/**
 * GLAN (arXiv 2402.13064): instructions drawn from a taxonomy of human knowledge instead of from
 * the user's examples. The paper has a large model build the taxonomy, then a syllabus per subject
 * (class sessions, each with its key concepts), then homework questions over key concepts of one or
 * two sessions. Here the taxonomy (disciplines → subjects, each with topics or none) is a small YAML
 * file the user can copy and edit (assets/synth/glan-taxonomy.yaml); the model drafts the syllabus of
 * each subject without topics (syllabus.ts; a subject's listed topics are its sessions unless the
 * syllabus option says draft), then one instruction per candidate over sampled key concepts, asked
 * through its own chat template, then answers it like any other prompt.
 *
 * Candidate i takes session i mod S (S sessions of all subjects, in order), so n rows cover the
 * sessions evenly; half the time it adds another session of the same subject (the paper's
 * combinations of two sessions), and it takes 1–3 key concepts of the first and 1–2 of the second, all
 * drawn with a generator seeded by (seed, i). The kind of task cycles with ⌊i / S⌋ (a question, an
 * exercise, a multi-step problem…). All of it depends on the seed, i and the syllabi only: resume holds.
 */
import { constants, copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, extname, join, resolve } from "node:path";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from "yaml";
import { PROJECT_ROOT } from "../paths";
import { WhetstoneError } from "../util/errors";

export const BUNDLED_TAXONOMY = join(PROJECT_ROOT, "assets", "synth", "glan-taxonomy.yaml");

export interface Subject {
  discipline: string;
  subject: string;
  /** The subject's line in the file (1-based). */
  line: number;
  /** Its listed topics, each with its line; none: the model drafts its syllabus. */
  topics: { topic: string; line: number }[];
}

/** A subject's syllabus as the instructions are drawn from it. */
export interface Course {
  discipline: string;
  subject: string;
  line: number;
  /** topics: its listed topics are the sessions; drafted: the model's syllabus; subject: nothing in the draft could be read, the subject stands alone. */
  source: "topics" | "drafted" | "subject";
  sessions: { title: string; concepts: string[]; line: number }[];
}

/** What candidate i was asked about: in the row's provenance. */
export interface GlanPick {
  discipline: string;
  subject: string;
  line: number;
  source: Course["source"];
  sessions: string[];
  concepts: string[];
}

const TASKS = [
  "a question a student could be asked in an exam",
  "a practical exercise with concrete numbers, names or data",
  "a problem that needs several steps of reasoning",
  "a request to explain the ideas to a beginner, with an example",
  "a short task that applies the ideas to an everyday situation",
];

/** The user message that asks the model for candidate `index`'s instruction, and what it was drawn from. */
export function glanRequest(courses: Course[], seed: number, index: number): { request: string; pick: GlanPick } {
  const flat = courses.flatMap((course) => course.sessions.map((_, s) => [course, s] as const));
  const [course, s] = flat[index % flat.length]!;
  const random = seededRandom(seed, index);
  const first = course.sessions[s]!;
  const others = course.sessions.filter((_, k) => k !== s);
  const second = others.length > 0 && random() < 0.5 ? others[Math.floor(random() * others.length)]! : null;
  const concepts = [...draw(first.concepts, 3, random), ...(second ? draw(second.concepts, 2, random) : [])];
  const sessions = second ? [first, second] : [first];
  const task = TASKS[Math.floor(index / flat.length) % TASKS.length]!;
  const request =
    `You are writing homework for a course on ${course.subject} (${course.discipline}).\n` +
    sessions.map((x) => `Class session: ${x.title}\n`).join("") +
    `Key concepts: ${concepts.join("; ")}\n\n` +
    `Write ${task} that brings ${concepts.length > 1 ? "these key concepts together" : "this key concept into play"}. It must stand on its own. ` +
    `Reply with the instruction only, without an answer, a title or any preamble.`;
  return { request, pick: { discipline: course.discipline, subject: course.subject, line: first.line, source: course.source, sessions: sessions.map((x) => x.title), concepts } };
}

/** 1 to `most` of the items, without replacement. */
function draw(items: string[], most: number, random: () => number): string[] {
  const pool = [...items];
  const take = 1 + Math.floor(random() * Math.min(most, pool.length));
  for (let i = 0; i < take; i++) {
    const j = i + Math.floor(random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, take);
}

function seededRandom(seed: number, index: number): () => number {
  let a = Math.imul(seed + 1, 0x2c1b3c6d) ^ Math.imul(index + 1, 0x297a2d39);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function loadTaxonomy(path: string | null): { file: string; subjects: Subject[] } {
  const file = path === null ? BUNDLED_TAXONOMY : resolve(path);
  if (!existsSync(file)) {
    throw new WhetstoneError({ code: "SYNTH_TAXONOMY_NOT_FOUND", message: `Taxonomy file not found: ${file}`, hint: `Give --taxonomy a YAML file of disciplines → subjects (→ topics) (copy ${BUNDLED_TAXONOMY} and edit it), or leave it out for that one.`, where: file });
  }
  const lines = new LineCounter();
  const doc = parseDocument(readFileSync(file, "utf8").replace(/^\uFEFF/, ""), { lineCounter: lines, prettyErrors: false });
  const bad = (what: string, line: number) =>
    new WhetstoneError({
      code: "SYNTH_TAXONOMY_INVALID",
      message: `${file}:${line}: ${what}`,
      hint:
        "A taxonomy maps each discipline to its subjects, and each subject to a list of topics or to nothing (the model then drafts its syllabus):\n  Mathematics:\n    Algebra:\n      - Linear equations\n      - Logarithms\n    Geometry:\n" +
        `The bundled ${BUNDLED_TAXONOMY} is a complete example.`,
      where: `${file}:${line}`,
    });
  const lineOf = (node: Node | null | undefined, fallback = 1) => (node?.range ? lines.linePos(node.range[0]).line : fallback);
  if (doc.errors.length > 0) throw bad(`not valid YAML: ${doc.errors[0]!.message.split("\n")[0]}`, lines.linePos(doc.errors[0]!.pos[0]).line);
  const root = doc.contents;
  if (!isMap(root) || root.items.length === 0) throw bad(`the file should be a mapping of disciplines to their subjects, not ${describe(root)}.`, lineOf(root));
  const subjects: Subject[] = [];
  const name = (key: unknown, what: string, line: number): string => {
    const value = isScalar(key) ? key.value : key;
    if (typeof value !== "string" || !value.trim()) throw bad(`a ${what} needs a name (text), not ${JSON.stringify(value)}.`, line);
    return value.trim();
  };
  const empty = (node: unknown) => node === null || node === undefined || (isScalar(node) && node.value === null);
  for (const d of root.items) {
    const dLine = lineOf(d.key as Node);
    const discipline = name(d.key, "discipline", dLine);
    // A list of subject names is a discipline whose subjects all get drafted syllabi.
    if (isSeq(d.value) && d.value.items.length > 0) {
      for (const s of d.value.items) subjects.push({ discipline, subject: name(s, `subject of ${discipline}`, lineOf(s as Node, dLine)), line: lineOf(s as Node, dLine), topics: [] });
      continue;
    }
    if (!isMap(d.value) || d.value.items.length === 0) throw bad(`discipline "${discipline}" should map subjects to their topics (or list its subjects), not ${describe(d.value)}.`, lineOf(d.value as Node, dLine));
    for (const s of d.value.items) {
      const sLine = lineOf(s.key as Node, dLine);
      const subject = name(s.key, "subject", sLine);
      if (empty(s.value) || (isSeq(s.value) && s.value.items.length === 0)) {
        subjects.push({ discipline, subject, line: sLine, topics: [] });
        continue;
      }
      if (!isSeq(s.value)) throw bad(`subject "${subject}" (in ${discipline}) should be a list of topics, or nothing for a syllabus the model drafts, not ${describe(s.value)}.`, lineOf(s.value as Node, sLine));
      const topics = s.value.items.map((t) => {
        const tLine = lineOf(t as Node, sLine);
        const value = isScalar(t) ? t.value : null;
        if (typeof value !== "string" || !value.trim()) throw bad(`a topic of "${subject}" (in ${discipline}) should be text, not ${isScalar(t) ? JSON.stringify(value) : describe(t)}.`, tLine);
        return { topic: value.trim(), line: tLine };
      });
      subjects.push({ discipline, subject, line: sLine, topics });
    }
  }
  const seen = new Map<string, number>();
  for (const s of subjects) {
    const key = `${s.discipline}\u0000${s.subject}`;
    if (seen.has(key)) throw bad(`subject "${s.subject}" (in ${s.discipline}) is listed twice (first on line ${seen.get(key)}): its syllabus would be drafted once.`, s.line);
    seen.set(key, s.line);
  }
  return { file, subjects };
}

/** The bundled taxonomy copied to `out`, or to `stem-2.yaml`, `stem-3.yaml`… beside it: a file already there is never replaced. */
export function copyBundledTaxonomy(out: string): { path: string } {
  const ext = extname(out);
  const stem = ext ? out.slice(0, -ext.length) : out;
  try {
    mkdirSync(dirname(out), { recursive: true });
    for (let k = 1; ; k++) {
      const path = k === 1 ? out : `${stem}-${k}${ext}`;
      try {
        copyFileSync(BUNDLED_TAXONOMY, path, constants.COPYFILE_EXCL);
        return { path };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
    }
  } catch (e) {
    throw new WhetstoneError({ code: "SYNTH_TAXONOMY_NOT_COPIED", message: `Could not copy the bundled taxonomy to ${out}: ${(e as Error).message}`, hint: "Choose a folder you can write to (save the rows somewhere else, then copy again).", where: out });
  }
}

function describe(node: unknown): string {
  if (node === null || node === undefined) return "nothing";
  if (isMap(node)) return node.items.length ? "a mapping" : "an empty mapping";
  if (isSeq(node)) return node.items.length ? "a list" : "an empty list";
  if (isScalar(node)) return node.value === null ? "nothing" : `the ${typeof node.value} ${JSON.stringify(node.value)}`;
  return "something else";
}
