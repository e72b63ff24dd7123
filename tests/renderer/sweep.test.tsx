// @vitest-environment jsdom
/**
 * The Sweep page: the grid builder's checks as typed and its trial count, what Start sends (the
 * wizard's config, as "Start training" sends it, with the spec), engine errors in the app's words;
 * the sweep view's rows for each trial state, cancel and resume, the judge's ranking with the LC
 * win rates and their intervals, live updates from `sweep` events. A fake client stands in for the
 * engine: the view is drawn from SweepStatus objects shaped by the engine's own schema.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { SweepStatusSchema, type SweepStatus, type Trial } from "../../engine/sweep/schema";
import type { RunStatus } from "../../engine/runs/types";
import { EngineApiError } from "../../renderer/src/client/engine-client";
import { ClientContext } from "../../renderer/src/client/context";
import { applyEngineEvent, useAppStore } from "../../renderer/src/store/store";
import { DEFAULT_DRAFT, draftToConfig, type Draft } from "../../renderer/src/lib/draft";
import { checkGrid, checkRow, settingsFor, settingsInWords, trialState } from "../../renderer/src/lib/sweep";
import { SweepBuilder } from "../../renderer/src/wizard/SweepBuilder";
import { SweepView } from "../../renderer/src/runs/SweepView";
import { TrainStep } from "../../renderer/src/wizard/TrainStep";
import { fakeClient } from "../helpers/fake-client";

const draft: Draft = { ...DEFAULT_DRAFT, modelPath: "/models/tiny", dataPath: "/data/chat.jsonl", dataName: "chat.jsonl", validationSplit: 0.1 };


const LR = "training.learning_rate";
const trial = (index: number, over: Partial<Trial>): Trial => ({
  index, settings: { [LR]: 0.003 }, run_id: `sw-t${index}-run`, state: "completed", reason: null, signals: null, steps: 12, total_steps: 12, final_loss: 1.5, val_loss: 1.7, saved_steps: 0, ...over,
});

/** A sweep status as the engine writes it (parsed by its schema, so a field it lacks fails here). */
function sweepStatus(over: Partial<SweepStatus> = {}): SweepStatus {
  return SweepStatusSchema.parse({
    id: "sw-1", name: "sw", state: "running", created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z", finished_at: null, owner_pid: 1,
    base_config: {}, base_dir: "/", config_path: null,
    spec: { grid: { [LR]: [0.003, 0.01, 1] }, random: null, seed: 0, budget_steps: 12, budget_minutes: null, early_stop: "signals", warmup: 0.25, stop_fraction: 0.5, min_compared: 2, diverge_ratio: 1.5, judge: null, prompts: null, limit: 3, max_new_tokens: 8 },
    elapsed_s: 42, trials: [], selection: null, error: null, ...over,
  });
}

const run = (id: string, over: Partial<RunStatus> = {}): RunStatus =>
  ({ id, name: id, method: "sft", state: "running", created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z", started_at: null, finished_at: null, step: 5, total_steps: 12, last_loss: 2.25, first_loss: 3, eta_s: 10, phase: "train", owner_pid: null, worker_pid: null, last_checkpoint: null, outputs: {}, error: null, attempts: 1, device: null, ...over }) as RunStatus;

const initial = useAppStore.getState();
beforeEach(() => useAppStore.setState({ ...initial, draft, sweeps: {}, runs: {}, view: { name: "wizard" } }, true));
afterEach(cleanup);

const CONFIG_KEY = /\b(training|lora|data|preference|model)\.[a-z_]+/;

describe("the grid's checks", () => {
  it("wants numbers where numbers are expected, within what the config allows, each once", () => {
    expect(checkRow({ field: LR, text: "3e-3, 1e-2, 1.0" }, draft)).toEqual({ values: [0.003, 0.01, 1], problems: [] });
    expect(checkRow({ field: LR, text: "3e-3, fast, 3, 0" }, draft).problems).toEqual(["“fast” is not a number.", "“3”: must be at most 1.", "“0”: must be above 0."]);
    expect(checkRow({ field: "lora.r", text: "8, 2.5, 0, 8" }, draft).problems).toEqual(["“2.5”: must be a whole number.", "“0”: must be at least 1.", "“8” is listed twice."]);
    expect(checkRow({ field: "training.scheduler", text: "cosine, sometimes" }, draft)).toEqual({ values: ["cosine"], problems: ["“sometimes” is not one of cosine, linear, wsd, constant."] });
    // A comma still being typed is not a mistake; nothing typed at all is.
    expect(checkRow({ field: LR, text: "1e-4, " }, draft)).toEqual({ values: [1e-4], problems: [] });
    expect(checkRow({ field: "lora.r", text: " " }, draft).problems).toEqual(["Type the values of lora rank to try, separated by commas (e.g. 8, 16, 32)."]);
    // Goldfish is off in the draft: its k still checks (the engine writes {k} into each trial's config).
    expect(checkRow({ field: "training.goldfish.k", text: "4, 1" }, draft).problems).toEqual(["“1”: must be at least 2."]);
  });

  it("counts every combination as a trial, and refuses a setting twice", () => {
    const g = checkGrid([{ field: LR, text: "1e-4, 2e-4, 4e-4" }, { field: "lora.r", text: "8, 16" }], draft);
    expect(g).toMatchObject({ trials: 6, ok: true, grid: { [LR]: [1e-4, 2e-4, 4e-4], "lora.r": [8, 16] } });
    expect(checkGrid([{ field: LR, text: "1e-4, x" }], draft)).toMatchObject({ trials: 1, ok: false });
    expect(checkGrid([{ field: LR, text: "" }], draft)).toMatchObject({ trials: 0, ok: false });
    const twice = checkGrid([{ field: LR, text: "1e-4" }, { field: LR, text: "2e-4" }], draft);
    expect(twice.rows[1]!.problems).toEqual(["Learning rate has a row above already."]);
  });

  it("offers the settings the draft uses, by their names in the app", () => {
    const labels = (d: Draft) => settingsFor(d).map((s) => s.label);
    expect(labels(draft)).toEqual(expect.arrayContaining(["Learning rate", "LoRA rank", "Epochs", "NEFTune noise", "Goldfish: drop one token in", "Max length"]));
    expect(labels({ ...draft, finetune: "full" })).not.toContain("LoRA rank");
    expect(labels({ ...draft, method: "dpo" })).toContain("β (beta)");
    expect(labels({ ...draft, method: "dpo" })).not.toContain("Goldfish: drop one token in");
    expect(settingsInWords({ [LR]: 0.0001, "lora.r": 16, "training.neftune_alpha": 0 })).toBe("Learning rate 0.0001, LoRA rank 16, NEFTune noise 0");
  });
});

describe("the grid builder", () => {
  it("checks values as typed, shows the trial count, and starts the sweep with the wizard's config and the spec", async () => {
    const startSweep = vi.fn(async () => sweepStatus({ trials: [trial(1, { state: "pending", run_id: null })] }));
    render(
      <ClientContext.Provider value={fakeClient({ startSweep })}>
        <SweepBuilder onClose={() => undefined} />
      </ClientContext.Provider>,
    );
    const count = screen.getByTestId("trial-count");
    const start = () => screen.getByRole("button", { name: /^Start \d+ trials?$/ }) as HTMLButtonElement;
    // The first row proposes the draft's learning rate, half and double.
    expect((screen.getByLabelText("Values of Learning rate") as HTMLInputElement).value).toBe("0.0001, 0.0002, 0.0004");
    expect(count.textContent).toBe("3 trials");
    fireEvent.change(screen.getByLabelText("Values of Learning rate"), { target: { value: "3e-3, 1e-2, lots" } });
    expect(screen.getByText("“lots” is not a number.")).toBeTruthy();
    expect(screen.getByLabelText("Values of Learning rate").getAttribute("aria-invalid")).toBe("true");
    expect(start().disabled).toBe(true);
    fireEvent.change(screen.getByLabelText("Values of Learning rate"), { target: { value: "3e-3, 1e-2, 1.0" } });
    expect(start().disabled).toBe(false);

    fireEvent.click(screen.getByRole("button", { name: "Add a setting" }));
    fireEvent.change(screen.getByLabelText("Setting 2"), { target: { value: "lora.r" } });
    fireEvent.change(screen.getByLabelText("Values of LoRA rank"), { target: { value: "4, 8" } });
    expect(count.textContent).toBe("3 × 2 = 6 trials");
    fireEvent.click(screen.getByRole("button", { name: "Remove LoRA rank" }));
    expect(count.textContent).toBe("3 trials");

    fireEvent.click(screen.getByLabelText(/^By validation loss/));
    fireEvent.change(screen.getByLabelText("Steps per trial (optional)"), { target: { value: "12" } });
    expect((screen.getByLabelText("Trials at once") as HTMLSelectElement).value).toBe("auto");
    fireEvent.change(screen.getByLabelText("Trials at once"), { target: { value: "2" } });
    fireEvent.change(screen.getByLabelText("Judge"), { target: { value: "/judges/tiny" } });
    fireEvent.change(screen.getByLabelText("Answer tokens"), { target: { value: "8" } });
    expect(document.body.textContent).not.toMatch(CONFIG_KEY);
    fireEvent.click(start());
    await waitFor(() => expect(useAppStore.getState().draft.sweepId).toBe("sw-1"));
    expect(startSweep).toHaveBeenCalledWith({
      config: draftToConfig(draft),
      spec: { grid: { [LR]: [0.003, 0.01, 1] }, early_stop: "val", budget_steps: 12, parallel: 2, judge: "/judges/tiny", prompts: null, limit: 200, max_new_tokens: 8 },
    });
    expect(useAppStore.getState().sweeps["sw-1"]).toBeTruthy();
  });

  it("needs held-out prompts for the judge, and says an engine error in the app's words", async () => {
    useAppStore.setState({ draft: { ...draft, validationSplit: 0 } });
    const startSweep = vi.fn(async () => {
      throw new EngineApiError("CONFIG_INVALID", "Trial 2 of 2 (training.learning_rate=3): The config has 1 problem: training.learning_rate must be <= 1, got 3", "Fix the grid.");
    });
    render(
      <ClientContext.Provider value={fakeClient({ startSweep })}>
        <SweepBuilder onClose={() => undefined} />
      </ClientContext.Provider>,
    );
    const start = screen.getByRole("button", { name: "Start 3 trials" }) as HTMLButtonElement;
    expect(screen.getByText(/set a validation split in Settings \(e\.g\. 0\.1\), or give a prompt file below/)).toBeTruthy();
    expect(start.disabled).toBe(true);
    fireEvent.change(screen.getByLabelText("Prompts"), { target: { value: "/data/prompts.txt" } });
    expect(start.disabled).toBe(false);
    fireEvent.click(start);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toMatch(/^A setting is not valid\. Trial 2 of 2 \(“Learning rate”=3\): The config has 1 problem: “Learning rate” must be <= 1, got 3/);
    expect(alert.textContent).not.toMatch(CONFIG_KEY);
    expect(useAppStore.getState().draft.sweepId).toBeNull();
  });

  it("opens from the Train step beside starting one run", () => {
    render(
      <ClientContext.Provider value={fakeClient({})}>
        <TrainStep />
      </ClientContext.Provider>,
    );
    expect(screen.getByRole("button", { name: "Start training" })).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Try several settings" }));
    expect(screen.getByRole("heading", { name: "Try several settings" })).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Train once instead" }));
    expect(screen.getByRole("button", { name: "Start training" })).toBeTruthy();
  });
});

describe("the sweep view", () => {
  const GRAD = "its training loss 7.482 around step 3 is worse than the median of the 5 trials (7.211)";
  const trials = [
    trial(1, { settings: { [LR]: 0.003 }, final_loss: 1.61 }),
    trial(2, { settings: { [LR]: 0.01 }, state: "running", steps: null, final_loss: null, val_loss: null }),
    trial(3, { settings: { [LR]: 1 }, state: "stopped", reason: GRAD, steps: 4, final_loss: 9.5, saved_steps: 8 }),
    trial(4, { settings: { [LR]: 0.1 }, state: "failed", reason: "training.learning_rate too high: the loss became NaN (NON_FINITE_LOSS)", steps: 2 }),
    trial(5, { settings: { [LR]: 0.2 }, state: "skipped", run_id: null, reason: "not trained: the sweep's time budget (5 min) was spent", steps: null, total_steps: null, final_loss: null, val_loss: null }),
    trial(6, { settings: { [LR]: 0.3 }, state: "pending", run_id: null, steps: null, total_steps: null, final_loss: null, val_loss: null }),
  ];

  const show = (status: SweepStatus, handlers: Parameters<typeof fakeClient>[0] = {}) => {
    useAppStore.getState().upsertSweep(status);
    const client = fakeClient({ getSweep: async () => useAppStore.getState().sweeps[status.id], getRun: async () => ({ status: run("sw-t2-run") }), getMetrics: async () => [], getLog: async () => [], ...handlers });
    return render(
      <ClientContext.Provider value={client}>
        <SweepView id={status.id} />
      </ClientContext.Provider>,
    );
  };
  const rows = () => within(screen.getByTestId("trials")).getAllByRole("row").slice(1);

  it("shows each trial's settings in words, how it stands or ended and why, and its losses; the running one live", async () => {
    useAppStore.getState().upsertRun(run("sw-t2-run"));
    show(sweepStatus({ trials }));
    const [t1, t2, t3, t4, t5, t6] = rows();
    expect(within(t1!).getAllByRole("cell").map((c) => c.textContent)).toEqual(["1", "Learning rate 0.003", "completed", "12/12", "1.61", "1.7", "sw-t1-run"]);
    // Running: its run's step and loss as they come, with a progress bar.
    expect(t2!.textContent).toContain("running");
    expect(within(t2!).getByRole("progressbar", { name: "Trial 2 progress" }).getAttribute("value")).toBe(String(5 / 12));
    expect(within(t2!).getAllByRole("cell")[3]!.textContent).toBe("5/12");
    expect(within(t2!).getAllByRole("cell")[4]!.textContent).toBe("2.25");
    expect(t3!.textContent).toContain(`stopped early: ${GRAD}`);
    expect(within(t3!).getAllByRole("cell")[3]!.textContent).toBe("4/12");
    expect(t4!.textContent).toContain("failed: “Learning rate” too high: the loss became NaN (NON_FINITE_LOSS)");
    expect(t5!.textContent).toContain("skipped: not trained: the sweep's time budget (5 min) was spent");
    expect(t6!.textContent).toContain("pending");
    // A trial state a newer engine adds is shown by its name, with its words where the app knows them.
    expect(trialState(trial(7, { state: "paused" as Trial["state"] }))).toEqual({ label: "paused", reason: "trained its first steps; waits until the other trials have too" });
    expect(screen.getByTestId("sweep-saved").textContent).toBe("Early stopping stopped 1 of 6 trials and saved 8 of 48 planned steps.");
    // The running trial's own dashboard, below the table.
    expect(await screen.findByText(/Trial 2 training now: Learning rate 0.01/)).toBeTruthy();
    expect(await screen.findByLabelText("Run sw-t2-run")).toBeTruthy();
    expect(document.body.textContent).not.toMatch(CONFIG_KEY);
    // A trial's run is one click away.
    fireEvent.click(screen.getByRole("button", { name: "Open the run of trial 1" }));
    expect(useAppStore.getState().view).toEqual({ name: "run", id: "sw-t1-run" });
  });

  it("shows a running trial at the step of its run's latest metrics, as its dashboard's charts do, not the run's status written every few seconds", async () => {
    useAppStore.getState().upsertRun(run("sw-t2-run", { step: 1, last_loss: 7 }));
    show(sweepStatus({ trials: [trials[1]!] }));
    const cells = () => within(rows()[0]!).getAllByRole("cell");
    expect(cells()[3]!.textContent).toBe("1/12");
    await screen.findByLabelText("Run sw-t2-run"); // its dashboard loaded (the run's metrics so far: none)
    act(() => {
      for (const [step, loss] of [[1, 7], [2, 6.5], [3, 6.25], [4, 6]] as const) applyEngineEvent({ type: "metrics", runId: "sw-t2-run", row: { step, total_steps: 12, loss } });
    });
    expect(cells()[3]!.textContent).toBe("4/12");
    expect(cells()[4]!.textContent).toBe("6");
    expect(within(rows()[0]!).getByRole("progressbar", { name: "Trial 2 progress" }).getAttribute("value")).toBe(String(4 / 12));
    // Ended, the trial's own figures again (its metrics rows stay in the store).
    act(() => useAppStore.getState().upsertSweep(sweepStatus({ trials: [{ ...trials[1]!, state: "completed", steps: 12, final_loss: 1.25 }] })));
    expect(cells()[3]!.textContent).toBe("12/12");
    expect(cells()[4]!.textContent).toBe("1.25");
  });

  it("says how many trials train at once and why, and shows each running trial's dashboard", async () => {
    useAppStore.getState().upsertRun(run("sw-t1-run"));
    useAppStore.getState().upsertRun(run("sw-t2-run"));
    const text = "2 at a time, one per CPU core: each needs about 0.6 GB, with a safety margin, of the 22 GB of memory free";
    show(sweepStatus({
      trials: [trial(1, { state: "running", settings: { [LR]: 0.003 } }), trial(2, { state: "running", settings: { [LR]: 0.01 } }), trial(3, { state: "pending", run_id: null })],
      side_by_side: { slots: 2, limit: "cores", per_trial_bytes: 6e8, free_bytes: 2.2e10, threads: 1, text },
    }));
    expect(screen.getByTestId("sweep-side-by-side").textContent).toBe(`Trials train ${text}.`);
    expect(await screen.findByText(/Trial 1 training now: Learning rate 0.003/)).toBeTruthy();
    expect(await screen.findByText(/Trial 2 training now: Learning rate 0.01/)).toBeTruthy();
    expect(await screen.findByLabelText("Run sw-t1-run")).toBeTruthy();
    expect(await screen.findByLabelText("Run sw-t2-run")).toBeTruthy();
    expect(document.body.textContent).not.toMatch(CONFIG_KEY);
  });

  it("cancels a running sweep, and resumes an interrupted one", async () => {
    const cancelSweep = vi.fn(async () => sweepStatus({ state: "cancelled", trials: [trials[0]!] }));
    const resumeSweep = vi.fn(async () => sweepStatus({ state: "running", trials: [trials[0]!] }));
    show(sweepStatus({ trials: [trials[0]!] }), { cancelSweep, resumeSweep });
    expect(screen.queryByRole("button", { name: "Resume the sweep" })).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Cancel the sweep" }));
    await screen.findByRole("button", { name: "Resume the sweep" });
    expect(cancelSweep).toHaveBeenCalledWith({ id: "sw-1" });
    expect(screen.getByTestId("sweep-state").textContent).toBe("cancelled");
    fireEvent.click(screen.getByRole("button", { name: "Resume the sweep" }));
    await screen.findByRole("button", { name: "Cancel the sweep" });
    expect(resumeSweep).toHaveBeenCalledWith({ id: "sw-1" });
    cleanup();
    show(sweepStatus({ state: "interrupted", owner_pid: null, trials: [trials[0]!] }));
    expect(screen.getByRole("button", { name: "Resume the sweep" })).toBeTruthy();
    expect(screen.getByText(/The process that ran this sweep stopped/)).toBeTruthy();
  });

  it("shows the judge's ranking with the best marked, and each LC win rate with its interval", () => {
    const done = [trials[0]!, trial(2, { settings: { [LR]: 0.01 }, final_loss: 1.42 }), trials[2]!];
    show(
      sweepStatus({
        state: "completed",
        trials: done,
        selection: {
          best_run: "sw-t2-run", best_trial: 2, note: null,
          ranking: [
            { label: "sw-t2-run", run_id: "sw-t2-run", strength: 0.5, rank: 1 },
            { label: "sw-t1-run", run_id: "sw-t1-run", strength: 0.3, rank: 2 },
            { label: "base (/models/tiny)", run_id: null, strength: 0.2, rank: 3 },
          ],
          matches: [
            { model: "sw-t2-run", baseline: "base (/models/tiny)", win_rate: 66.7, lc_win_rate: 62.5, lc_low: 40.1, lc_high: 80.3, n: 3 },
            { model: "sw-t2-run", baseline: "sw-t1-run", win_rate: 55, lc_win_rate: 52.25, lc_low: 30, lc_high: 71.5, n: 3 },
          ],
        },
      }),
    );
    expect(screen.queryByRole("button", { name: "Cancel the sweep" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Resume the sweep" })).toBeNull();
    expect(screen.getByTestId("sweep-best").textContent).toMatch(/^Best: trial 2 \(Learning rate 0.01\)\./);
    expect(rows()[1]!.textContent).toMatch(/^2★ best/);
    const ranking = within(screen.getByTestId("ranking")).getAllByRole("row").slice(1).map((r) => r.textContent);
    expect(ranking).toEqual(["1Trial 2 ★ bestLearning rate 0.010.5", "2Trial 1Learning rate 0.0030.3", "3The base model0.2"]);
    const matches = within(screen.getByTestId("matches")).getAllByRole("row").slice(1).map((r) => within(r).getAllByRole("cell").map((c) => c.textContent));
    expect(matches).toEqual([
      ["Trial 2", "The base model", "3", "66.7%", "62.5% (40.1% – 80.3%)"],
      ["Trial 2", "Trial 1", "3", "55.0%", "52.3% (30.0% – 71.5%)"],
    ]);
    expect(document.body.textContent).not.toMatch(CONFIG_KEY);
  });

  it("follows `sweep` events, and loads from the engine when the store does not have it (a reload)", async () => {
    const status = sweepStatus({ trials: [trial(1, { state: "pending", run_id: null, steps: null, final_loss: null })] });
    render(
      <ClientContext.Provider value={fakeClient({ getSweep: async () => status })}>
        <SweepView id="sw-1" />
      </ClientContext.Provider>,
    );
    await waitFor(() => expect(rows()[0]!.textContent).toContain("pending"));
    act(() => applyEngineEvent({ type: "sweep", sweep: { ...status, trials: [trial(1, { state: "stopped", reason: "its loss diverged", steps: 3 })] } }));
    expect(rows()[0]!.textContent).toContain("stopped early: its loss diverged");
  });
});
