/**
 * GLAN (arXiv 2402.13064): instructions drawn from a taxonomy of human knowledge instead of from
 * the user's examples. The paper has a large model build the taxonomy and a syllabus per subject and
 * then write homework questions over each session's key concepts; here the taxonomy (disciplines →
 * subjects → topics) is a small YAML file the user can copy and edit (assets/synth/glan-taxonomy.yaml),
 * each topic stands for a syllabus entry, and the model drafts one instruction per candidate for a
 * topic, asked through its own chat template, then answers it like any other prompt.
 *
 * Candidate i takes topic i mod T (T topics, in file order), so n rows cover the topics evenly, and
 * the kind of task it asks for cycles with ⌊i / T⌋ (a question, an exercise, a multi-step problem…), so
 * a topic's second visit is not a rewording of its first. Both depend on i only: resume holds.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from "yaml";
import { PROJECT_ROOT } from "../paths";
import { WhetstoneError } from "../util/errors";

export const BUNDLED_TAXONOMY = join(PROJECT_ROOT, "assets", "synth", "glan-taxonomy.yaml");

export interface Topic {
  discipline: string;
  subject: string;
  topic: string;
  /** The topic's line in the file (1-based). */
  line: number;
}

const TASKS = [
  "a question a student could be asked in an exam",
  "a practical exercise with concrete numbers, names or data",
  "a problem that needs several steps of reasoning",
  "a request to explain the idea to a beginner, with an example",
  "a short task that applies the idea to an everyday situation",
];

/** The user message that asks the model for candidate `index`'s instruction. */
export function glanRequest(topics: Topic[], index: number): { request: string; topic: Topic } {
  const topic = topics[index % topics.length]!;
  const task = TASKS[Math.floor(index / topics.length) % TASKS.length]!;
  const request =
    `You are writing homework for a course on ${topic.subject} (${topic.discipline}). ` +
    `The syllabus session is about: ${topic.topic}.\n\n` +
    `Write ${task} on this session's key concepts. It must stand on its own. ` +
    `Reply with the instruction only, without an answer, a title or any preamble.`;
  return { request, topic };
}

export function loadTaxonomy(path: string | null): { file: string; topics: Topic[] } {
  const file = path === null ? BUNDLED_TAXONOMY : resolve(path);
  if (!existsSync(file)) {
    throw new WhetstoneError({ code: "SYNTH_TAXONOMY_NOT_FOUND", message: `Taxonomy file not found: ${file}`, hint: `Give --taxonomy a YAML file of disciplines → subjects → topics (copy ${BUNDLED_TAXONOMY} and edit it), or leave it out for that one.`, where: file });
  }
  const lines = new LineCounter();
  const doc = parseDocument(readFileSync(file, "utf8").replace(/^\uFEFF/, ""), { lineCounter: lines, prettyErrors: false });
  const bad = (what: string, line: number) =>
    new WhetstoneError({
      code: "SYNTH_TAXONOMY_INVALID",
      message: `${file}:${line}: ${what}`,
      hint: "A taxonomy maps each discipline to its subjects, and each subject to a list of topics:\n  Mathematics:\n    Algebra:\n      - Linear equations\n      - Logarithms\n" + `The bundled ${BUNDLED_TAXONOMY} is a complete example.`,
      where: `${file}:${line}`,
    });
  const lineOf = (node: Node | null | undefined, fallback = 1) => (node?.range ? lines.linePos(node.range[0]).line : fallback);
  if (doc.errors.length > 0) throw bad(`not valid YAML: ${doc.errors[0]!.message.split("\n")[0]}`, lines.linePos(doc.errors[0]!.pos[0]).line);
  const root = doc.contents;
  if (!isMap(root) || root.items.length === 0) throw bad(`the file should be a mapping of disciplines to their subjects, not ${describe(root)}.`, lineOf(root));
  const topics: Topic[] = [];
  const name = (key: unknown, what: string, line: number): string => {
    const value = isScalar(key) ? key.value : key;
    if (typeof value !== "string" || !value.trim()) throw bad(`a ${what} needs a name (text), not ${JSON.stringify(value)}.`, line);
    return value.trim();
  };
  for (const d of root.items) {
    const dLine = lineOf(d.key as Node);
    const discipline = name(d.key, "discipline", dLine);
    if (!isMap(d.value) || d.value.items.length === 0) throw bad(`discipline "${discipline}" should map subjects to their topics, not ${describe(d.value)}.`, lineOf(d.value as Node, dLine));
    for (const s of d.value.items) {
      const sLine = lineOf(s.key as Node, dLine);
      const subject = name(s.key, "subject", sLine);
      if (!isSeq(s.value) || s.value.items.length === 0) throw bad(`subject "${subject}" (in ${discipline}) should be a list of topics, not ${describe(s.value)}.`, lineOf(s.value as Node, sLine));
      for (const t of s.value.items) {
        const tLine = lineOf(t as Node, sLine);
        const value = isScalar(t) ? t.value : null;
        if (typeof value !== "string" || !value.trim()) throw bad(`a topic of "${subject}" (in ${discipline}) should be text, not ${isScalar(t) ? JSON.stringify(value) : describe(t)}.`, tLine);
        topics.push({ discipline, subject, topic: value.trim(), line: tLine });
      }
    }
  }
  return { file, topics };
}

function describe(node: unknown): string {
  if (node === null || node === undefined) return "nothing";
  if (isMap(node)) return node.items.length ? "a mapping" : "an empty mapping";
  if (isSeq(node)) return node.items.length ? "a list" : "an empty list";
  if (isScalar(node)) return node.value === null ? "nothing" : `the ${typeof node.value} ${JSON.stringify(node.value)}`;
  return "something else";
}
