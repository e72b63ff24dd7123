// @vitest-environment jsdom
/**
 * The panel's list of subjects and its answers settings (renderer/src/wizard/SynthChoices.tsx,
 * lib/synth.ts). Against the real engine, in-process, on the tiny model and the tiny judge: "From a
 * list of subjects" with a copy of the bundled list (copied beside the rows, never over a file),
 * edited as a user would, two answers each kept as preference pairs, progress through the syllabus
 * and judging phases, the report in words, the rows and the syllabus file on disk. With a fake
 * client: finished runs of the same base offered as extra answerers, temperatures and the checks
 * said in words, and the request they make.
 */
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { Engine } from "../../engine/api/engine";
import type { EngineEvent } from "../../engine/api/events";
import { BUNDLED_TAXONOMY } from "../../engine/synth/glan";
import { createClient, type EngineClient } from "../../renderer/src/client/engine-client";
import { ClientContext } from "../../renderer/src/client/context";
import { applyEngineEvent, useAppStore } from "../../renderer/src/store/store";
import { DEFAULT_DRAFT, type Draft } from "../../renderer/src/lib/draft";
import { DEFAULT_SYNTH_FORM, progressInWords, synthRequest } from "../../renderer/src/lib/synth";
import { SynthSettings } from "../../renderer/src/wizard/SynthPanel";
import { ensureTinyModel } from "../helpers/fixture";
import { ensureTinyJudge } from "../engine/eval/tiny-judge";
import { fakeClient } from "../helpers/fake-client";

const CONFIG_WORDS = /--[a-z]|magpie|fewshot|glan|taxonomy|syllabusTokens|responseTemperatures|responderRuns|minMargin|"pairs"|"sft"/;
/** What the panel says, less paths and file names (synth-glan-pairs.jsonl names the way it was made, as a file should). */
const words = (el: Element) => el.textContent!.replace(/(?:\/[\w.-]+)+/g, "PATH").replace(/[\w.-]+\.(?:yaml|jsonl)/g, "FILE");
const initial = useAppStore.getState();
afterEach(cleanup);

describe("against the engine: subjects, syllabi and preference pairs on the tiny model", () => {
  const dir = mkdtempSync(join(tmpdir(), "whetstone-synth-ui-"));
  const engine = new Engine({ home: mkdtempSync(join(tmpdir(), "whetstone-synth-ui-home-")) });
  const calls: { method: string; input: unknown }[] = [];
  const client: EngineClient = createClient({
    call: (method, input) => {
      calls.push({ method, input });
      return engine.dispatch(method, input);
    },
    subscribe: (cb) => {
      engine.events.on("event", cb);
      return () => void engine.events.off("event", cb);
    },
    fileForEngine: async () => ({ path: "", uploaded: false }),
  });
  afterAll(() => engine.close());

  it("copies the bundled list to edit, drafts syllabi for its subjects, and keeps best-vs-worst pairs the judge chose", async () => {
    const model = ensureTinyModel();
    const judge = ensureTinyJudge();
    const draft: Draft = { ...DEFAULT_DRAFT, modelPath: model, dataPath: join(dir, "chat.jsonl"), dataName: "chat.jsonl" };
    useAppStore.setState({ ...initial, draft, synthForm: DEFAULT_SYNTH_FORM, synthJob: null, progress: {} }, true);
    const phases = new Set<string>();
    const seen: string[] = [];
    const unsubscribe = client.subscribe((e: EngineEvent) => {
      applyEngineEvent(e);
      if (e.type === "synth") {
        phases.add(e.progress.phase);
        seen.push(progressInWords(e.progress));
      }
    });
    render(
      <ClientContext.Provider value={client}>
        <SynthSettings home={engine.store.home} />
      </ClientContext.Provider>,
    );
    fireEvent.click(screen.getByLabelText(/^From a list of subjects/));
    expect(screen.getByText(/^The bundled list of subjects:/)).toBeTruthy();

    // The copy goes beside the rows; a second copy never replaces the first (the user may have edited it).
    fireEvent.click(screen.getByRole("button", { name: "Copy the bundled list to edit it" }));
    const copy = join(dir, "glan-taxonomy.yaml");
    expect((await screen.findByTestId("synth-taxonomy-copied")).textContent).toContain(`Copied to ${copy}.`);
    expect(readFileSync(copy, "utf8")).toBe(readFileSync(BUNDLED_TAXONOMY, "utf8"));
    writeFileSync(copy, "# mine\nScience:\n  Physics:\n  Biology:\n    - Cells\n");
    fireEvent.click(screen.getByRole("button", { name: "Copy the bundled list to edit it" }));
    await waitFor(() => expect(screen.getByTestId("synth-taxonomy-copied").textContent).toContain(`Copied to ${join(dir, "glan-taxonomy-2.yaml")}.`));
    expect(readFileSync(copy, "utf8")).toMatch(/^# mine/);
    writeFileSync(join(dir, "glan-taxonomy-2.yaml"), "# mine\nScience:\n  Physics:\n  Biology:\n    - Cells\n");
    expect(screen.getByText("glan-taxonomy-2.yaml", { selector: "strong" }).parentElement!.textContent).toBe("Subjects file: glan-taxonomy-2.yaml");
    expect(screen.queryByText(/^The bundled list of subjects:/)).toBeNull();

    fireEvent.change(screen.getByLabelText("How many rows"), { target: { value: "3" } });
    fireEvent.click(screen.getByText("More options"));
    fireEvent.click(screen.getByLabelText(/^Drop cut-off answers/));
    fireEvent.change(screen.getByLabelText("Longest prompt (tokens)"), { target: { value: "6" } });
    fireEvent.change(screen.getByLabelText("Longest answer (tokens)"), { target: { value: "5" } });
    fireEvent.click(screen.getByText("Several answers, and a judge to choose"));
    expect(screen.getByTestId("synth-answers-plan").textContent).toBe("One answer to each request, kept as it is.");
    fireEvent.change(screen.getByLabelText("Answers to each request"), { target: { value: "2" } });
    fireEvent.click(screen.getByLabelText(/^The best and the worst answer, as a preference pair/));
    fireEvent.change(screen.getByLabelText("Smallest score gap"), { target: { value: "0" } });
    fireEvent.change(screen.getByLabelText("Judge"), { target: { value: judge } });
    expect(screen.getByTestId("synth-answers-plan").textContent).toBe("2 answers to each request, from one model at one temperature; the judge keeps the best and the worst as a pair.");
    const out = join(dir, "synth-glan-pairs.jsonl");
    expect((screen.getByLabelText("Save the rows to") as HTMLInputElement).value).toBe(out);
    expect(words(document.querySelector(".synth-body")!)).not.toMatch(CONFIG_WORDS);

    fireEvent.click(screen.getByRole("button", { name: "Generate rows" }));
    const report = await screen.findByTestId("synth-report", {}, { timeout: 240_000 });
    unsubscribe();
    expect(calls.find((c) => c.method === "synthData")!.input).toEqual({
      method: "glan", n: 3, out, model, seed: 0, taxonomy: join(dir, "glan-taxonomy-2.yaml"), promptTokens: 6, maxNewTokens: 5,
      filters: ["empty", "repeated", "refusal"], responses: 2, select: "pairs", minMargin: 0, judge,
    });
    const said = report.textContent!;
    expect(said).toMatch(/Course syllabi for 2 subjects \(1 with the topics listed for them, 1 drafted now\): \d+ sessions?, \d+ key concepts?\./);
    expect(said).toContain("The syllabi are in synth-glan-pairs.syllabus.yaml, beside the rows");
    expect(said).toMatch(/The judge compared 2 answers to each request \(the writing model at 0\.7\): \d+ requests?, \d+ pairs? of answers, each in both orders\./);
    expect(said).toContain("Each row is a preference pair, the best answer against the worst: train it with DPO, SimPO or ORPO.");
    expect(words(report)).not.toMatch(CONFIG_WORDS);
    expect(phases).toEqual(new Set(["load", "syllabus", "judge", "synth"]));
    expect(seen.some((s) => /^Drafting a course syllabus for each subject: 1 of 1 done · /.test(s))).toBe(true);
    expect(seen.some((s) => /^The judge compares the answers: \d+ of \d+ pairs · /.test(s))).toBe(true);

    const rows = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(rows.length).toBeGreaterThanOrEqual(1);
    for (const r of rows) {
      expect(Object.keys(r).sort()).toEqual(["chosen", "prompt", "rejected", "synth"]);
      expect(r.synth).toMatchObject({ method: "glan", selection: "pairs", judge, taxonomy: { discipline: "Science", syllabus: join(dir, "synth-glan-pairs.syllabus.yaml") } });
      expect(["Physics", "Biology"]).toContain(r.synth.taxonomy.subject);
    }
    expect(existsSync(join(dir, "synth-glan-pairs.syllabus.yaml"))).toBe(true);
    expect(readFileSync(join(dir, "synth-glan-pairs.syllabus.yaml"), "utf8")).toContain("subject: Physics");
  }, 300_000);
});

describe("answers from other runs, temperatures and the checks (fake engine)", () => {
  const draft: Draft = { ...DEFAULT_DRAFT, modelPath: "/models/tiny", dataPath: "/data/chat.jsonl", dataName: "chat.jsonl" };
  const run = (id: string, base: string) => ({ id, name: id, method: "sft", finetune: "lora", finished_at: "2026-01-02T00:00:00Z", kind: "adapter" as const, path: `/runs/${id}/adapter`, base, lineage: [] });
  beforeEach(() => useAppStore.setState({ ...initial, draft, synthForm: DEFAULT_SYNTH_FORM, synthJob: null, progress: {} }, true));


  it("offers finished runs of this base (not of another), and sends them with the temperatures and the best answer kept", async () => {
    const synthData = vi.fn(() => new Promise(() => undefined));
    render(
      <ClientContext.Provider value={fakeClient({ startingPoints: () => ({ models: [], runs: [run("sft-a", "/models/tiny"), run("other-base", "/models/big")] }), inspectDataset: () => Promise.reject(new Error("none")), synthData })}>
        <SynthSettings home="/home/me/.whetstone" />
      </ClientContext.Provider>,
    );
    fireEvent.click(screen.getByText("Several answers, and a judge to choose"));
    const runBox = await screen.findByLabelText(/^Your finished run sft-a/);
    expect(screen.queryByText("other-base")).toBeNull();
    fireEvent.click(runBox);
    fireEvent.change(screen.getByLabelText("Answer temperatures"), { target: { value: "0.7, 1.2" } });
    expect(screen.getByTestId("synth-problems").textContent).toBe("Answers to each request: at least 4, one from each model and temperature chosen.");
    fireEvent.change(screen.getByLabelText("Answers to each request"), { target: { value: "4" } });
    expect(screen.getByTestId("synth-answers-plan").textContent).toBe("4 answers to each request, from 4 combinations of model and temperature, in turn; the judge keeps the best.");
    expect((screen.getByLabelText("Save the rows to") as HTMLInputElement).value).toBe("/data/synth-magpie-best.jsonl");
    expect(words(document.querySelector(".synth-body")!)).not.toMatch(CONFIG_WORDS);
    fireEvent.click(screen.getByRole("button", { name: "Generate rows" }));
    expect(synthData).toHaveBeenCalledWith(expect.objectContaining({ method: "magpie", out: "/data/synth-magpie-best.jsonl", responses: 4, responseTemperatures: [0.7, 1.2], responderRuns: ["sft-a"], select: "sft" }));
    expect(synthData.mock.calls[0]![0]).not.toHaveProperty("minMargin");
    expect(synthData.mock.calls[0]![0]).not.toHaveProperty("judge");
  });

  it("says what is wrong with temperatures, answers and the score gap; the base model answers too when a run writes", () => {
    const problems = (form: Partial<typeof DEFAULT_SYNTH_FORM>, d: Partial<Draft> = {}) => synthRequest({ ...DEFAULT_SYNTH_FORM, ...form }, { ...draft, ...d }, "/h").problems;
    expect(problems({ temperatures: "warm" })).toEqual(["Answer temperatures: numbers from 0 to 5, separated by commas (like 0.7, 1.0)."]);
    expect(problems({ temperatures: "0.7, 9" })).toEqual(["Answer temperatures: numbers from 0 to 5, separated by commas (like 0.7, 1.0)."]);
    expect(problems({ answers: "17" })).toEqual(["Answers to each request: at most 16."]);
    expect(problems({ answers: "0" })).toEqual(["Answers to each request: at least 1."]);
    expect(problems({ answers: "3", keep: "pairs", minMargin: "1.5" })).toEqual(["Smallest score gap: a number from 0 to 1."]);
    expect(problems({ answers: "1", keep: "pairs", minMargin: "1.5" })).toEqual([]); // one answer: nothing is chosen, the gap is not used
    const initFrom = { id: "sft-1", name: "sft", method: "sft", kind: "adapter" as const, base: "/models/tiny", lineage: [] };
    const { request } = synthRequest({ ...DEFAULT_SYNTH_FORM, writer: "run", alsoBase: true, answers: "2", method: "glan", draftAll: true }, { ...draft, initFrom }, "/h");
    expect(request).toMatchObject({ method: "glan", run: "sft-1", responderModels: ["/models/tiny"], responses: 2, select: "sft", syllabus: "draft", out: "/data/synth-glan-best.jsonl" });
    expect(request).not.toHaveProperty("taxonomy"); // the bundled list
    expect(synthRequest({ ...DEFAULT_SYNTH_FORM, temperatures: "1.0" }, draft, "/h").request).toMatchObject({ responseTemperature: 1 });
  });
});
