/**
 * GLAN (engine/synth/glan.ts, syllabus.ts): the bundled taxonomy loads (subjects with topics and
 * without); candidates cover the sessions evenly and draw key concepts of one or two sessions of a
 * subject; a taxonomy or syllabus file of the wrong shape is refused naming the file, the line and
 * what is wrong. On the tiny model: the syllabi are drafted into the file beside the output (the tiny
 * model writes noise, so its drafts are kept unread and each such subject stands alone, counted), a
 * rerun reads the file instead of drafting, an edited syllabus steers the rows that follow, "keep"
 * leaves listed topics alone and "draft" drafts them too, and every row names its subject, sessions
 * and concepts.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { PROJECT_ROOT } from "../../../engine/paths";
import { BUNDLED_TAXONOMY, glanRequest, loadTaxonomy, type Course } from "../../../engine/synth/glan";
import { SyllabusFile, syllabusPath, syllabusRequest } from "../../../engine/synth/syllabus";
import { ensureTinyModel, tempHome, TINY_MODEL } from "../../helpers/fixture";

let dir: string;
const rows = (file: string) => readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
const write = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "whetstone-glan-"));
});

describe("taxonomy", () => {
  it("the bundled one has a handful of disciplines, subjects to draft and one with its topics, each with its line", () => {
    const { file, subjects } = loadTaxonomy(null);
    expect(file).toBe(BUNDLED_TAXONOMY);
    expect(new Set(subjects.map((s) => s.discipline)).size).toBeGreaterThanOrEqual(5);
    expect(subjects.filter((s) => s.topics.length === 0).length).toBeGreaterThanOrEqual(10);
    const lines = readFileSync(BUNDLED_TAXONOMY, "utf8").split("\n");
    for (const s of subjects) {
      expect(lines[s.line - 1]).toContain(s.subject);
      for (const t of s.topics) expect(lines[t.line - 1]).toContain(t.topic);
    }
    expect(subjects.find((s) => s.subject === "Geometry")!.topics.map((t) => t.topic)).toContain("The Pythagorean theorem");
    expect(subjects.find((s) => s.subject === "Personal finance")).toMatchObject({ discipline: "Business and economics", topics: [] }); // a plain list of subjects
  });

  it("refuses a bad shape naming the file, the line and what is wrong", () => {
    const cases: [string, number, string][] = [
      ["- Mathematics\n- Physics\n", 1, "mapping of disciplines"],
      ["Mathematics:\n  Algebra:\n    - Linear equations\n  Geometry: Triangles\n", 4, 'subject "Geometry" (in Mathematics) should be a list of topics, or nothing for a syllabus the model drafts, not the string "Triangles"'],
      ["Mathematics:\n  Algebra:\n    - Linear equations\n    - {name: Logarithms}\n", 4, 'a topic of "Algebra" (in Mathematics) should be text, not a mapping'],
      ["Mathematics:\n  Algebra:\n    - Linear equations\nPhysics:\n", 4, 'discipline "Physics" should map subjects to their topics (or list its subjects), not nothing'],
      ["Mathematics:\n  Algebra:\n    - Linear equations\n  Geometry:\n    -\n", 5, "should be text, not null"],
      ["Mathematics:\n  - Algebra\n  - Algebra\n", 3, 'subject "Algebra" (in Mathematics) is listed twice (first on line 2)'],
      ["Mathematics:\n  - {Algebra: 1}\n", 2, "a subject of Mathematics needs a name"],
      ["Mathematics:\n  Algebra: [\n", 3, "not valid YAML"],
    ];
    cases.forEach(([text, line, what], i) => {
      const file = write(`bad-${i}.yaml`, text);
      expect(() => loadTaxonomy(file), text).toThrow(expect.objectContaining({ code: "SYNTH_TAXONOMY_INVALID", where: `${file}:${line}`, message: expect.stringContaining(what) }));
    });
    expect(() => loadTaxonomy(join(dir, "missing.yaml"))).toThrow(expect.objectContaining({ code: "SYNTH_TAXONOMY_NOT_FOUND" }));
  });
});

describe("drawing candidates from syllabi", () => {
  const course = (subject: string, sessions: [string, string[]][]): Course => ({ discipline: "D", subject, line: 1, source: "drafted", sessions: sessions.map(([title, concepts]) => ({ title, concepts, line: 1 })) });
  const courses = [
    course("Algebra", [["Linear equations", ["slope", "intercept", "solving for x", "graphs"]], ["Quadratics", ["roots", "discriminant"]]]),
    course("Probability", [["Events", ["sample space", "complement"]], ["Bayes", ["prior", "posterior"]], ["Expectation", ["linearity"]]]),
  ];

  it("takes session i mod S, adds another session of the same subject half the time, and draws concepts from them only", () => {
    const picks = Array.from({ length: 500 }, (_, i) => glanRequest(courses, 3, i).pick);
    const flat = courses.flatMap((c) => c.sessions.map((s) => [c.subject, s.title]));
    picks.forEach((p, i) => {
      expect([p.subject, p.sessions[0]]).toEqual(flat[i % 5]);
      const mine = courses.find((c) => c.subject === p.subject)!.sessions.filter((s) => p.sessions.includes(s.title));
      expect(mine).toHaveLength(p.sessions.length); // a second session comes from the same subject
      expect(new Set(p.sessions).size).toBe(p.sessions.length);
      for (const c of p.concepts) expect(mine.flatMap((s) => s.concepts)).toContain(c);
      expect(p.concepts.length).toBeGreaterThanOrEqual(p.sessions.length);
      expect(p.concepts.length).toBeLessThanOrEqual(5);
    });
    const twos = picks.filter((p) => p.sessions.length === 2).length;
    expect(twos).toBeGreaterThan(180);
    expect(twos).toBeLessThan(320);
    expect(new Set(picks.filter((p) => p.sessions[0] === "Linear equations").map((p) => p.concepts.join())).size).toBeGreaterThan(5);
  });

  it("depends on the seed and the index only, and says the subject, sessions, concepts and the kind of task", () => {
    expect(glanRequest(courses, 3, 7)).toEqual(glanRequest(courses, 3, 7));
    const a = Array.from({ length: 20 }, (_, i) => glanRequest(courses, 3, i).pick);
    const b = Array.from({ length: 20 }, (_, i) => glanRequest(courses, 4, i).pick);
    expect(a).not.toEqual(b);
    const { request, pick } = glanRequest(courses, 3, 2);
    expect(request).toContain("a course on Probability (D)");
    for (const s of pick.sessions) expect(request).toContain(`Class session: ${s}`);
    expect(request).toContain(`Key concepts: ${pick.concepts.join("; ")}`);
    expect(request).toContain("a question a student could be asked in an exam");
    expect(glanRequest(courses, 3, 7).request).toContain("a practical exercise"); // the same session's second visit asks another kind of task
  });

  it("asks for a syllabus of numbered sessions with key concepts, covering the listed topics when there are some", () => {
    const [algebra, geometry] = [loadTaxonomy(null).subjects.find((s) => s.subject === "Algebra")!, loadTaxonomy(null).subjects.find((s) => s.subject === "Geometry")!];
    expect(syllabusRequest(algebra)).toMatch(/course on Algebra, part of Mathematics.*numbered list of 6 to 10 class sessions.*key concepts/s);
    expect(syllabusRequest(algebra)).not.toContain("must cover");
    expect(syllabusRequest(geometry)).toContain("It must cover these topics: Angles in triangles and polygons; Area and perimeter of composite shapes; The Pythagorean theorem.");
  });

  it("a syllabus file of the wrong shape is refused naming its line; the file sits beside the output", () => {
    expect(syllabusPath("/d/glan.jsonl")).toBe("/d/glan.syllabus.yaml");
    expect(syllabusPath("/d/rows.ndjson")).toBe("/d/rows.syllabus.yaml");
    const cases: [string, number, string][] = [
      ["- a\n", 1, "a mapping with `subjects:`"],
      ["subjects:\n  - discipline: D\n    subject: S\n    sessions: lots\n", 4, 'the sessions of "S" should be a list'],
      ["subjects:\n  - discipline: D\n    subject: S\n    sessions:\n      - title: T\n        concepts: a, b\n", 6, 'the concepts of "T" should be a list'],
      ["subjects:\n  - discipline: D\n    sessions: []\n", 2, "the subject (of D) should be text"],
      ["subjects:\n  - discipline: D\n    subject: S\n  - discipline: D\n    subject: S\n", 4, '"S" (in D) has two entries'],
    ];
    cases.forEach(([text, line, what], i) => {
      const file = write(`bad-${i}.syllabus.yaml`, text);
      expect(() => new SyllabusFile(file, "x.jsonl"), text).toThrow(expect.objectContaining({ code: "SYNTH_SYLLABUS_INVALID", where: `${file}:${line}`, message: expect.stringContaining(what) }));
    });
  });
});

describe("glan on the tiny model", () => {
  let engine: Engine;
  const fast = { model: TINY_MODEL, promptTokens: 6, maxNewTokens: 5, syllabusTokens: 24, filters: ["empty", "repeated", "refusal"] as ("empty" | "repeated" | "refusal")[] };

  beforeAll(() => {
    ensureTinyModel();
    engine = new Engine({ home: tempHome() });
  });

  it("drafts a syllabus per subject without topics into a file beside the output, keeps listed topics, and names subject, sessions and concepts in every row", async () => {
    const taxonomy = write("small.yaml", "# two subjects\nScience:\n  Physics:\n  Biology:\n    - Cells\n    - Genes\n");
    const out = join(dir, "glan.jsonl");
    const report = await engine.call("synthData", { method: "glan", n: 6, out, taxonomy, ...fast });
    const file = syllabusPath(out);
    expect(report).toMatchObject({ rows: 6, complete: true, method: "glan" });
    expect(report.syllabus).toMatchObject({ file, subjects: 2, listed: 1, drafted: 1, reused: 0 });
    // The file reads back as what the report counted: the tiny model's noise is kept as an unread draft, or parsed into sessions.
    const saved = new SyllabusFile(file, out);
    const physics = [...saved.entries.values()];
    expect(physics.map((e) => [e.discipline, e.subject])).toEqual([["Science", "Physics"]]);
    const text = readFileSync(file, "utf8");
    expect(text).toMatch(/^# The syllabus of each subject of the taxonomy, drafted by the model for glan\.jsonl/);
    if (physics[0]!.sessions.length === 0) {
      expect(report.syllabus).toMatchObject({ unreadable: 1, sessions: 3 }); // Physics alone + Cells + Genes
      expect(text).toContain("draft:");
    } else expect(report.syllabus!.sessions).toBe(physics[0]!.sessions.length + 2);
    expect(report.syllabus!.unread_lines).toBeGreaterThanOrEqual(0);

    for (const r of rows(out)) {
      const t = r.synth.taxonomy;
      expect(t).toMatchObject({ file: taxonomy, syllabus: file, discipline: "Science" });
      expect(t.sessions.length).toBeGreaterThanOrEqual(1);
      expect(t.concepts.length).toBeGreaterThanOrEqual(1);
      if (t.subject === "Biology") {
        expect(t).toMatchObject({ source: "topics", line: t.sessions[0] === "Cells" ? 5 : 6 });
        for (const c of t.concepts) expect(["Cells", "Genes"]).toContain(c);
      } else expect(t).toMatchObject({ subject: "Physics", line: 3, source: physics[0]!.sessions.length ? "drafted" : "subject" });
      expect(r.messages.map((m: { role: string }) => m.role)).toEqual(["user", "assistant"]);
    }
    expect(new Set(rows(out).map((r) => r.synth.taxonomy.subject))).toEqual(new Set(["Physics", "Biology"]));
    const check = await engine.inspectDataset({ path: out, method: "sft" });
    expect(check.issues.filter((i) => i.severity === "error")).toEqual([]);

    // A rerun for more rows reads the syllabus file instead of drafting again.
    const before = { text, mtime: statSync(file).mtimeMs };
    const again = await engine.call("synthData", { method: "glan", n: 8, out, taxonomy, ...fast });
    expect(again).toMatchObject({ rows: 8, resumed: 6, written: 2 });
    expect(again.syllabus).toMatchObject({ drafted: 0, reused: 1, unread_lines: 0 });
    expect(readFileSync(file, "utf8")).toBe(before.text);
    expect(statSync(file).mtimeMs).toBe(before.mtime);

    // The user's edit of the syllabus steers what follows; their comment stays when a new subject is drafted.
    writeFileSync(file, "# mine\nsubjects:\n  - discipline: Science\n    subject: Physics\n    sessions:\n      - title: Motion\n        concepts: [velocity, acceleration]\n      - title: Forces\n        concepts: [mass, friction]\n");
    writeFileSync(taxonomy, "Science:\n  Physics:\n  Biology:\n    - Cells\n    - Genes\n  Chemistry:\n");
    const edited = await engine.call("synthData", { method: "glan", n: 16, out, taxonomy, ...fast });
    expect(edited.syllabus).toMatchObject({ drafted: 1, reused: 1, listed: 1 });
    const later = rows(out).slice(8).map((r) => r.synth.taxonomy);
    const physicsRows = later.filter((t) => t.subject === "Physics");
    expect(physicsRows.length).toBeGreaterThan(0);
    for (const t of physicsRows) {
      expect(t.source).toBe("drafted");
      for (const s of t.sessions) expect(["Motion", "Forces"]).toContain(s);
      for (const c of t.concepts) expect(["velocity", "acceleration", "mass", "friction"]).toContain(c);
    }
    const after = readFileSync(file, "utf8");
    expect(after).toMatch(/^# mine\n/);
    expect([...new SyllabusFile(file, out).entries.values()].map((e) => e.subject)).toEqual(["Physics", "Chemistry"]);
  });

  it("draft: every subject's syllabus is drafted, listed topics too", async () => {
    const taxonomy = write("listed.yaml", "Science:\n  Biology:\n    - Cells\n");
    const out = join(dir, "drafted.jsonl");
    const report = await engine.call("synthData", { method: "glan", n: 2, out, taxonomy, syllabus: "draft", ...fast });
    expect(report.syllabus).toMatchObject({ subjects: 1, listed: 0, drafted: 1 });
    expect([...new SyllabusFile(syllabusPath(out), out).entries.keys()]).toHaveLength(1);
    for (const r of rows(out)) expect(["drafted", "subject"]).toContain(r.synth.taxonomy.source);
    // Only listed topics: keep drafts nothing and writes no syllabus file.
    const kept = await engine.call("synthData", { method: "glan", n: 2, out: join(dir, "kept.jsonl"), taxonomy, ...fast });
    expect(kept.syllabus).toMatchObject({ file: null, listed: 1, drafted: 0, sessions: 1, concepts: 1 });
  });

  it("refuses a bad taxonomy through the API and the CLI, and --taxonomy or --syllabus with another method", async () => {
    const bad = write("bad.yaml", "Science:\n  Physics: Gravity\n");
    const out = join(dir, "never.jsonl");
    await expect(engine.call("synthData", { method: "glan", n: 2, out, taxonomy: bad, ...fast })).rejects.toMatchObject({ code: "SYNTH_TAXONOMY_INVALID", where: `${bad}:2` });
    await expect(engine.call("synthData", { method: "magpie", n: 2, out, taxonomy: bad, ...fast })).rejects.toMatchObject({ code: "SYNTH_INVALID", where: "taxonomy" });
    await expect(engine.call("synthData", { method: "magpie", n: 2, out, syllabus: "draft", ...fast })).rejects.toMatchObject({ code: "SYNTH_INVALID", where: "syllabus" });
    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), "synth", "--method", "glan", "--model", TINY_MODEL, "--n", "2", "--out", out, "--taxonomy", bad], { encoding: "utf8", env: { ...process.env, WHETSTONE_HOME: tempHome() } });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`${bad}:2: subject "Physics" (in Science) should be a list of topics`);
  });
});
