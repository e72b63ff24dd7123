// @vitest-environment jsdom
/**
 * The Data step's "Generate data with a model" panel (renderer/src/wizard/SynthPanel.tsx,
 * SynthStatus.tsx, lib/synth.ts): the form's checks and the request it sends, progress and time
 * left from `synth` events, Cancel, the rows already in the file said before a rerun, an engine
 * error in the app's words, the report in words and "Use this file". A fake client stands in for
 * the engine; reports are shaped by the engine's own schema.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import type { ProgressInfo } from "../../engine/api/events";
import { SynthReportSchema } from "../../engine/synth/schema";
import { EngineApiError, type EngineClient } from "../../renderer/src/client/engine-client";
import { ClientContext } from "../../renderer/src/client/context";
import { applyEngineEvent, useAppStore } from "../../renderer/src/store/store";
import { DEFAULT_DRAFT, type Draft } from "../../renderer/src/lib/draft";
import { DEFAULT_SYNTH_FORM, defaultOutPath, progressInWords, reportInWords, synthRequest, type SynthReport } from "../../renderer/src/lib/synth";
import { SynthSettings } from "../../renderer/src/wizard/SynthPanel";
import { fakeClient } from "../helpers/fake-client";

const HOME = "/home/me/.whetstone";
const draft: Draft = { ...DEFAULT_DRAFT, modelPath: "/models/tiny", dataPath: "/data/chat.jsonl", dataName: "chat.jsonl" };
const OUT = "/data/synth-magpie.jsonl";


const report = (over: Partial<SynthReport> = {}): SynthReport =>
  SynthReportSchema.parse({
    out: OUT, method: "magpie", model: "/models/tiny", run: null, seed: 0, requested: 3, rows: 3, resumed: 0, written: 3, candidates: 9, next_index: 9,
    filtered: { empty: 1, truncated: 0, repeated: 4, refusal: 0 }, duplicates: { seeds: 0, rows: 1 }, decontaminated: 0, eval_prompts: 0, complete: true, torn_line_removed: false, elapsed_s: 14, ...over,
  });

const progress = (over: Partial<ProgressInfo>): ProgressInfo => ({ phase: "synth", current: 0, total: 3, unit: "rows", elapsed_s: 1, eta_s: null, message: "", ...over });
const notThere = () => Promise.reject(new EngineApiError("API_PATH_NOT_FOUND", "no such file", ""));
const dataReport = (rows: number) => ({ path: OUT, stats: { rows } });

const initial = useAppStore.getState();
beforeEach(() => useAppStore.setState({ ...initial, draft, synthForm: DEFAULT_SYNTH_FORM, synthJob: null, progress: {} }, true));
afterEach(cleanup);

describe("the panel's checks", () => {
  it("wants a model, a whole number of rows, a full .jsonl path and, from examples, the examples file", () => {
    const problems = (form: Partial<typeof DEFAULT_SYNTH_FORM>, d: Partial<Draft> = {}) => synthRequest({ ...DEFAULT_SYNTH_FORM, ...form }, { ...draft, ...d }, HOME).problems;
    expect(problems({})).toEqual([]);
    expect(problems({}, { modelPath: " " })).toEqual(["Choose a base model in step 1 first: it writes the rows."]);
    expect(problems({ rows: "0" })).toEqual(["How many rows: at least 1."]);
    expect(problems({ rows: "2.5" })).toEqual(["How many rows: give a whole number."]);
    expect(problems({ out: "more.jsonl" })).toEqual(["Save the rows to a full path, starting at the top of a disk (like /home/you/data/more.jsonl)."]);
    expect(problems({ out: "/data/more.csv" })).toEqual(["Save the rows to a .jsonl file: each line is one conversation."]);
    expect(problems({ method: "fewshot" })).toEqual(["Choose a file of your example prompts: the model writes new ones like them."]);
    expect(problems({ method: "fewshot", examples: { path: "/e.jsonl", name: "e.jsonl" }, examplesShown: "0" })).toEqual(["Examples shown each time: at least 1."]);
    expect(problems({ answerTokens: "" })).toEqual(["Longest answer: give a whole number."]);
  });

  it("saves beside the user's data, else in the engine's folder, named after the way", () => {
    expect(defaultOutPath("magpie", "/data/chat.jsonl", HOME)).toBe("/data/synth-magpie.jsonl");
    expect(defaultOutPath("fewshot", "C:\\data\\chat.jsonl", HOME)).toBe("C:\\data\\synth-fewshot.jsonl");
    expect(defaultOutPath("magpie", null, HOME)).toBe(`${HOME}/synthetic/synth-magpie.jsonl`);
    expect(defaultOutPath("magpie", null, null)).toBe("");
  });

  it("asks the finished run the wizard chains from, when that is the writer chosen", () => {
    const initFrom = { id: "sft-1", name: "sft", method: "sft", kind: "adapter" as const, base: "/models/tiny", lineage: [] };
    const { request } = synthRequest({ ...DEFAULT_SYNTH_FORM, writer: "run" }, { ...draft, initFrom }, HOME);
    expect(request).toMatchObject({ run: "sft-1" });
    expect(request).not.toHaveProperty("model");
  });
});

describe("progress and the report in words", () => {
  it("says loading, then rows, candidates and the time left", () => {
    expect(progressInWords(undefined)).toBe("Starting…");
    expect(progressInWords(progress({ phase: "load", current: 1, total: 2, unit: "steps" }))).toBe("Loading the model…");
    expect(progressInWords(progress({ current: 0, message: "0 of 3 rows (2 candidates, 2 dropped)" }))).toBe("0 of 3 rows written · 2 candidates tried, 2 dropped · time left known after the first row");
    expect(progressInWords(progress({ current: 2, eta_s: 75, message: "2 of 3 rows (6 candidates, 4 dropped)" }))).toBe("2 of 3 rows written · 6 candidates tried, 4 dropped · about 1:15 left");
    expect(progressInWords(progress({ current: 3, eta_s: 0, message: "3 of 3 rows (8 candidates, 5 dropped)" }))).toBe("3 of 3 rows written · 8 candidates tried, 5 dropped · finishing");
    expect(progressInWords(progress({ current: 1, eta_s: 9, message: "something else" }))).toBe("1 of 3 rows written · about 0:09 left");
  });

  it("counts what was dropped and why, near-duplicates, overlaps and a run that ran out of candidates", () => {
    expect(reportInWords(report()).lines).toEqual([
      "3 of 3 rows in synth-magpie.jsonl, in 0:14.",
      "9 candidates tried; dropped 1 empty, 4 repetitive.",
      "Near-duplicates left out: 1 of earlier rows.",
      "No held-out prompts were given, so nothing was checked for overlap with them.",
    ]);
    const r = reportInWords(
      report({ method: "fewshot", rows: 12, requested: 50, resumed: 10, written: 2, candidates: 270, filtered: { empty: 0, truncated: 200, repeated: 60, refusal: 6 }, duplicates: { seeds: 1, rows: 0 }, eval_prompts: 40, decontaminated: 2, complete: false, torn_line_removed: true }),
    );
    expect(r.lines).toEqual([
      "12 of 50 rows in synth-magpie.jsonl (2 written now, 10 there before), in 0:14.",
      "270 candidates tried; dropped 200 cut off, 60 repetitive, 6 refusing.",
      "Near-duplicates left out: 0 of earlier rows, 1 of your examples.",
      "Overlaps with the 40 held-out prompts: 2 left out.",
      "A half-written last line, left by an interrupted run, was removed first.",
    ]);
    expect(r.verdict).toBe("Stopped after 270 candidates with 12 of 50 rows: most were cut off (allow longer prompts or answers under More options). Generate again to go on from there.");
  });
});

describe("the panel", () => {
  const mount = (client: EngineClient) =>
    render(
      <ClientContext.Provider value={client}>
        <SynthSettings home={HOME} />
      </ClientContext.Provider>,
    );

  it("sends what the form says, shows progress from events, cancels, and says a rerun continues the file", async () => {
    let rowsInFile = 0;
    const runs: { resolve: (r: SynthReport) => void; reject: (e: Error) => void }[] = [];
    const synthData = vi.fn(() => new Promise<SynthReport>((resolve, reject) => runs.push({ resolve, reject })));
    const cancelSynth = vi.fn(async () => ({ cancelled: true }));
    const inspectDataset = vi.fn(() => (rowsInFile ? Promise.resolve(dataReport(rowsInFile)) : notThere()));
    mount(fakeClient({ synthData, cancelSynth, inspectDataset }));
    expect((screen.getByLabelText("Save the rows to") as HTMLInputElement).value).toBe(OUT);
    expect(screen.getByText("/models/tiny")).toBeTruthy();
    const generate = () => screen.getByRole("button", { name: /^Generate/ }) as HTMLButtonElement;

    fireEvent.change(screen.getByLabelText("How many rows"), { target: { value: "0" } });
    expect(screen.getByTestId("synth-problems").textContent).toBe("How many rows: at least 1.");
    expect(generate().disabled).toBe(true);
    fireEvent.change(screen.getByLabelText("How many rows"), { target: { value: "3" } });
    fireEvent.click(screen.getByLabelText(/^Drop cut-off answers/));
    fireEvent.change(screen.getByLabelText("Longest prompt (tokens)"), { target: { value: "6" } });
    fireEvent.change(screen.getByLabelText("Longest answer (tokens)"), { target: { value: "5" } });
    fireEvent.change(screen.getByLabelText("Seed"), { target: { value: "7" } });
    fireEvent.change(screen.getByLabelText("Held-out prompts file"), { target: { files: [new File(["what is 2+2?\n"], "evals.txt")] } });
    await screen.findByText("evals.txt");
    expect(document.body.textContent).not.toMatch(/--[a-z]|magpie|fewshot|promptTokens|maxNewTokens|evalPrompts|truncated/);
    expect(generate().textContent).toBe("Generate rows");
    fireEvent.click(generate());
    expect(synthData).toHaveBeenCalledWith({ method: "magpie", n: 3, out: OUT, model: "/models/tiny", seed: 7, promptTokens: 6, maxNewTokens: 5, filters: ["empty", "repeated", "refusal"], evalPrompts: "/uploads/evals.txt" });
    expect(screen.getByTestId("synth-progress-text").textContent).toBe("Starting…");
    expect((screen.getByLabelText("How many rows") as HTMLInputElement).closest("fieldset")!.disabled).toBe(true);

    act(() => applyEngineEvent({ type: "synth", out: OUT, progress: progress({ phase: "load", current: 0, total: 1, unit: "steps" }) }));
    expect(screen.getByTestId("synth-progress-text").textContent).toBe("Loading the model…");
    act(() => applyEngineEvent({ type: "synth", out: OUT, progress: progress({ current: 1, eta_s: 20, message: "1 of 3 rows (4 candidates, 3 dropped)" }) }));
    expect(screen.getByTestId("synth-progress-text").textContent).toBe("1 of 3 rows written · 4 candidates tried, 3 dropped · about 0:20 left");
    expect((screen.getByLabelText("Rows generated") as HTMLProgressElement).value).toBeCloseTo(1 / 3);
    act(() => applyEngineEvent({ type: "synth", out: "/elsewhere/other.jsonl", progress: progress({ current: 2, message: "2 of 3 rows (9 candidates, 7 dropped)" }) }));
    expect(screen.getByTestId("synth-progress-text").textContent).toMatch(/^1 of 3 rows written/);

    fireEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(cancelSynth).toHaveBeenCalledWith({ out: OUT });
    expect(screen.getByTestId("synth-progress-text").textContent).toMatch(/^Stopping…/);
    rowsInFile = 1;
    await act(async () => runs[0]!.reject(new EngineApiError("CANCELLED", `The synthesis into ${OUT} was cancelled with 1 of 3 rows in the file (1 written now).`, "")));
    expect(screen.getByTestId("synth-stopped").textContent).toMatch(/^Stopped\. The rows written so far stay in synth-magpie\.jsonl/);
    expect(screen.queryByRole("alert")).toBeNull();
    expect((await screen.findByTestId("synth-resume")).textContent).toBe("1 of 3 rows already in the file; it continues from there.");
    expect(generate().textContent).toBe("Generate the rest");
    expect(inspectDataset).toHaveBeenLastCalledWith({ path: OUT });

    // Again: the same request, to the same file; the engine continues it and reports.
    fireEvent.click(generate());
    expect(synthData).toHaveBeenCalledTimes(2);
    expect(synthData.mock.calls[1]).toEqual(synthData.mock.calls[0]);
    expect(screen.getByTestId("synth-progress-text").textContent).toBe("Starting…"); // not the last attempt's numbers
    expect(screen.queryByTestId("synth-resume")).toBeNull();
    rowsInFile = 3;
    await act(async () => runs[1]!.resolve(report({ resumed: 1, written: 2 })));
    const shown = screen.getByTestId("synth-report").textContent!;
    expect(shown).toContain("✓ 3 of 3 rows in synth-magpie.jsonl (2 written now, 1 there before), in 0:14.");
    expect(shown).toContain("9 candidates tried; dropped 1 empty, 4 repetitive.");
    expect((await screen.findByTestId("synth-resume")).textContent).toMatch(/^The file already holds 3 rows, as many as asked for/);
    expect(generate().textContent).toBe("Generate rows");
    expect(generate().disabled).toBe(true); // nothing left to write into this file
    fireEvent.change(screen.getByLabelText("How many rows"), { target: { value: "5" } });
    expect(screen.getByTestId("synth-resume").textContent).toBe("3 of 5 rows already in the file; it continues from there.");
    expect(generate().disabled).toBe(false);
  });

  it("says an engine error in the app's words and that the rows written stay", async () => {
    const synthData = vi.fn(async () => {
      throw new EngineApiError("SYNTH_OUT_MISMATCH", `${OUT}:1: this file was synthesized with seed 0, not 7.`, "Continue it with the same seed (--seed 0), or write to a new file with --out.");
    });
    mount(fakeClient({ synthData, inspectDataset: notThere }));
    fireEvent.click(screen.getByRole("button", { name: "Generate rows" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("The output file was written with other settings.");
    expect(alert.textContent).toContain("seed 0, not 7");
    expect(alert.textContent).not.toMatch(/--[a-z]/);
    expect(screen.getByText(/Rows written before this stay in synth-magpie\.jsonl/)).toBeTruthy();
    expect((screen.getByRole("button", { name: "Generate rows" }) as HTMLButtonElement).disabled).toBe(false);
  });

  it("“Use this file” makes the generated file the wizard's dataset and checks it", async () => {
    // The panel's look at the file asks by path alone; the Data step's check counts tokens with the model.
    const inspectDataset = vi.fn(async (input: { path: string; model?: string }) => {
      if (input.path === OUT && input.model) return { ...dataReport(3), format: "jsonl", schema: "chat", bytes: 10, errors: 0, issues: [], notes: [], preview: { samples: 3 }, skip_invalid: false, trainable: true };
      throw new EngineApiError("API_PATH_NOT_FOUND", "no such file", "");
    });
    useAppStore.setState({ synthJob: { request: { method: "magpie", n: 3, out: OUT, model: "/models/tiny" }, state: "done", report: report(), error: null } });
    mount(fakeClient({ inspectDataset: inspectDataset as never }));
    fireEvent.click(screen.getByRole("button", { name: "Use this file" }));
    await waitFor(() => expect(useAppStore.getState().report?.path).toBe(OUT));
    expect(useAppStore.getState().draft).toMatchObject({ dataPath: OUT, dataName: "synth-magpie.jsonl", skipInvalid: false });
    expect(inspectDataset).toHaveBeenCalledWith(expect.objectContaining({ path: OUT, model: "/models/tiny" }));
    expect(screen.getByText(/The wizard trains on this file/)).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Use this file" })).toBeNull();
  });

  it("offers the examples file for “from examples of yours”, and sends it with how many are shown", async () => {
    const synthData = vi.fn(() => new Promise<SynthReport>(() => undefined));
    mount(fakeClient({ synthData, inspectDataset: notThere }));
    fireEvent.click(screen.getByLabelText(/^From examples of yours/));
    expect((screen.getByLabelText("Save the rows to") as HTMLInputElement).value).toBe("/data/synth-fewshot.jsonl");
    expect((screen.getByRole("button", { name: "Generate rows" }) as HTMLButtonElement).disabled).toBe(true);
    fireEvent.change(screen.getByLabelText("Examples file"), { target: { files: [new File(["{}"], "mine.jsonl")] } });
    await screen.findByText("mine.jsonl");
    fireEvent.change(screen.getByLabelText("Examples shown each time"), { target: { value: "2" } });
    fireEvent.click(screen.getByRole("button", { name: "Generate rows" }));
    expect(synthData).toHaveBeenCalledWith(expect.objectContaining({ method: "fewshot", seeds: "/uploads/mine.jsonl", k: 2, out: "/data/synth-fewshot.jsonl" }));
  });
});
