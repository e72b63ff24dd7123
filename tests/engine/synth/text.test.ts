/** engine/synth/{text,filters,fewshot,output}.ts without a model: duplicates, contamination, filters, the examples drawn, resuming a file. */
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dropReason, refusal, repetitive } from "../../../engine/synth/filters";
import { drawExamples, fewshotPrefix, loadSeeds } from "../../../engine/synth/fewshot";
import { readExisting, RowWriter } from "../../../engine/synth/output";
import { Contamination, NearDuplicates } from "../../../engine/synth/text";

const ALL = new Set(["empty", "truncated", "repeated", "refusal"] as const);
const tmp = () => mkdtempSync(join(tmpdir(), "whetstone-synth-"));

describe("near-duplicates", () => {
  it("finds copies up to case and punctuation, and close rewrites, and tags where they came from", () => {
    const d = new NearDuplicates<"seeds" | "rows">(0.8);
    d.add("Write a short poem about the sea at night, with rhymes and a calm mood throughout.", "seeds");
    d.add("Explain how a binary search works on a sorted array of integers.", "rows");
    expect(d.find("write a short POEM about the sea at night -- with rhymes and a calm mood throughout!")).toBe("seeds");
    expect(d.find("Please explain how a binary search works on a sorted array of integers.")).toBe("rows"); // Jaccard 9/10
    expect(d.find("Explain how a binary search works on a sorted array of integers, step by step.")).toBeNull(); // 9/12, under 0.8
    expect(d.find("What is the boiling point of water at high altitude?")).toBeNull();
    expect(d.find("hi")).toBeNull();
  });
});

describe("decontamination", () => {
  const c = new Contamination(8, ["What is the capital of France and why is it famous for art?", "Name a prime", "Hi"]);
  it("drops a prompt sharing an 8-word run with an evaluation prompt", () => {
    expect(c.overlaps("Tell me: what is the capital of France and why is it so famous")).toBe(true);
    expect(c.overlaps("What is the capital of Spain and why is it famous for food?")).toBe(false);
  });
  it("compares short texts whole, and under 3 words only when equal", () => {
    expect(c.overlaps("Please name a prime number")).toBe(true);
    expect(c.overlaps("hi")).toBe(true);
    expect(c.overlaps("Hi there, how are you")).toBe(false);
    expect(c.overlaps("capital of France and why")).toBe(true); // a short prompt inside an evaluation prompt
  });
});

describe("filters", () => {
  const base = { index: 0, prompt: "Write a haiku about autumn.", prompt_finish: "stop" as const, response: "Leaves fall softly down.", response_finish: "stop" as const };
  it("drops empty, truncated, repeated and refusal-shaped candidates, in that order", () => {
    expect(dropReason(base, ALL, true)).toBeNull();
    expect(dropReason({ ...base, prompt: "  " }, ALL, true)).toBe("empty");
    expect(dropReason({ ...base, response: "" }, ALL, true)).toBe("empty");
    expect(dropReason({ ...base, prompt_finish: "length", response: null, response_finish: null }, ALL, true)).toBe("truncated");
    expect(dropReason({ ...base, response_finish: "length" }, ALL, true)).toBe("truncated");
    expect(dropReason({ ...base, response: "I'm sorry, but I can't help with that." }, ALL, true)).toBe("refusal");
    expect(dropReason({ ...base, response: "the cat sat on the mat ".repeat(6) }, ALL, true)).toBe("repeated");
  });
  it("keeps what a disabled filter would drop, but never an empty row", () => {
    const none = new Set<never>();
    expect(dropReason({ ...base, response_finish: "length" }, none, true)).toBeNull();
    expect(dropReason({ ...base, response: "As an AI, I cannot do that." }, none, true)).toBeNull();
    expect(dropReason({ ...base, prompt: "" }, none, true)).toBe("empty");
  });
  it("tells loops and refusals from ordinary text", () => {
    expect(repetitive("a".repeat(40))).toBe(true);
    expect(repetitive("This line repeats a lot\nThis line repeats a lot\nThis line repeats a lot")).toBe(true);
    expect(repetitive("One two three four five six seven eight nine ten eleven twelve.")).toBe(false);
    expect(refusal("Unfortunately, I cannot share that.")).toBe(true);
    expect(refusal("I can explain: the sky is blue because of Rayleigh scattering.")).toBe(false);
  });
});

describe("fewshot", () => {
  it("draws k distinct examples per candidate, the same for the same seed and index", () => {
    const seeds = Array.from({ length: 10 }, (_, i) => ({ text: `prompt ${i}`, where: `f:${i + 1}` }));
    const a = drawExamples(seeds, 3, 0, 5);
    expect(new Set(a.map((s) => s.text)).size).toBe(3);
    expect(drawExamples(seeds, 3, 0, 5)).toEqual(a);
    expect(drawExamples(seeds, 3, 0, 6)).not.toEqual(a);
    expect(drawExamples(seeds, 20, 0, 5)).toHaveLength(10);
    expect(fewshotPrefix(a)).toMatch(/### Request 1\nprompt \d\n\n### Request 2\n.*### Request 4\n$/s);
  });
  it("reads seeds from any dataset shape, and refuses a file with none, naming it", async () => {
    const dir = tmp();
    const file = join(dir, "seeds.jsonl");
    writeFileSync(file, '{"prompt": "Name a prime.", "completion": "7"}\n{"prompt": "Name a prime.", "completion": "11"}\n{"question": "Hi", "answer": "Hello"}\n');
    expect(await loadSeeds(file)).toEqual([{ text: "Name a prime.", where: `${file}:1` }, { text: "Hi", where: `${file}:3` }]); // a repeated prompt once
    const empty = join(dir, "empty.jsonl");
    writeFileSync(empty, "");
    await expect(loadSeeds(empty)).rejects.toMatchObject({ code: "SYNTH_NO_SEEDS", message: expect.stringContaining(empty) });
    await expect(loadSeeds(join(dir, "missing.jsonl"))).rejects.toMatchObject({ code: "SYNTH_SEEDS_NOT_FOUND" });
  });
});

describe("the output file", () => {
  const who = { method: "magpie" as const, model: "/m", run: null, seed: 0 };
  const row = (index: number, prompt: string) => ({ messages: [{ role: "user", content: prompt }, { role: "assistant", content: "a" }], synth: { ...who, index, temperature: 1, response_temperature: 0.7 } });

  it("resumes after the highest index written, and cuts a torn last line", () => {
    const file = join(tmp(), "out.jsonl");
    expect(readExisting(file, who)).toMatchObject({ rows: 0, nextIndex: 0 });
    const w = new RowWriter(file);
    w.append(row(0, "first"));
    w.append(row(3, "second"));
    w.close();
    expect(readExisting(file, who)).toEqual({ rows: 2, nextIndex: 4, prompts: ["first", "second"], tornLineRemoved: false });
    const whole = readFileSync(file, "utf8");
    appendFileSync(file, '{"messages": [{"role": "us');
    expect(readExisting(file, who)).toMatchObject({ rows: 2, nextIndex: 4, tornLineRemoved: true });
    expect(readFileSync(file, "utf8")).toBe(whole);
  });

  it("refuses a file of other rows or other settings, naming the line", () => {
    const file = join(tmp(), "out.jsonl");
    writeFileSync(file, JSON.stringify(row(0, "x")) + "\n" + JSON.stringify({ ...row(1, "y"), synth: { ...row(1, "y").synth, seed: 9 } }) + "\n");
    expect(() => readExisting(file, who)).toThrow(expect.objectContaining({ code: "SYNTH_OUT_MISMATCH", where: `${file}:2`, message: expect.stringContaining("seed 9") }));
    writeFileSync(file, '{"messages": []}\n');
    expect(() => readExisting(file, who)).toThrow(expect.objectContaining({ code: "SYNTH_OUT_INVALID", where: `${file}:1` }));
  });
});
