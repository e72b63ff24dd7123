// @vitest-environment jsdom
/**
 * The rounds page against the real engine in-process, on the tiny model and the tiny judge: a loop of
 * two rounds with DPO after each SFT run, started through the API (as the CLI or another window
 * would), found on the runs page, followed live (the phase in words, its progress bar with time
 * left), cancelled and resumed with the page's buttons, and at the end every row of the table, the
 * win-rate curve and the outcome are checked against the loop's state as the engine stored it; each
 * round's runs and the best round's model are one click away. Then "Improve with rounds" on a
 * finished run's page: the form's checks, and Start, which starts rounds from that run and opens their
 * page. Nothing is faked: the statuses, events and progress are the engine's own.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { Engine } from "../../engine/api/engine";
import { App } from "../../renderer/src/App";
import { createClient } from "../../renderer/src/client/engine-client";
import { applyEngineEvent, useAppStore } from "../../renderer/src/store/store";
import { DEFAULT_ROUNDS_FORM, loopNow, roundState, roundsRequest, winRateSeries } from "../../renderer/src/lib/rounds";
import { ClientContext } from "../../renderer/src/client/context";
import { RunDetail } from "../../renderer/src/runs/RunDetail";
import { ensureTinyModel, tempHome, tinyConfig } from "../helpers/fixture";
import { ensureTinyJudge } from "../engine/eval/tiny-judge";
import { tinyRuns } from "../engine/eval/tiny-runs";

let judge: string;
let prompts: string;

beforeAll(() => {
  ensureTinyModel();
  judge = ensureTinyJudge();
  prompts = join(mkdtempSync(join(tmpdir(), "whetstone-rounds-ui-")), "prompts.txt");
  writeFileSync(prompts, "What is 3 plus 5?\nSay hello in French.\nName a colour.\n");
});

const initial = useAppStore.getState();
afterEach(cleanup);

/** Words a person reads, never a config key. */
const CONFIG_KEY = /\b(training|lora|data|preference|model|rounds|synth)\.[a-z_]+/;

function engineClient(engine: Engine) {
  return createClient({
    call: (method, input) => engine.dispatch(method, input),
    subscribe: (cb) => {
      engine.events.on("event", cb);
      return () => void engine.events.off("event", cb);
    },
    fileForEngine: async () => ({ path: "", uploaded: false }),
  });
}

describe("the rounds page against the engine", () => {
  it("lists the loop, follows it live, cancels and resumes it, and shows each round's runs, rows, pairs and win rates", async () => {
    const engine = new Engine({ home: tempHome() });
    const client = engineClient(engine);
    useAppStore.setState({ ...initial, view: { name: "runs" }, runs: {}, roundLoops: {}, progress: {} }, true);
    const started = await engine.call("startRounds", {
      config: {
        ...tinyConfig({ training: { max_steps: 16, micro_batch_size: 2, checkpoint_every: 2, neftune_alpha: 0 }, data: { max_length: 96 } }),
        name: "ui",
        rounds: {
          rounds: 2,
          synth: { method: "magpie", n: 4, prompt_tokens: 6, max_new_tokens: 5, filters: ["empty", "repeated", "refusal"], responses: 2, response_temperatures: [0.7, 1.3] },
          prompts, judge, limit: 3, max_new_tokens: 6, stop_threshold: 0,
          dpo: { min_margin: 0, training: { max_steps: 4 } },
        },
      },
    });
    render(<App client={client} />);

    // The runs page lists the loop; it opens its page.
    fireEvent.click(await screen.findByRole("button", { name: `Rounds ui (${started.id})` }));
    await screen.findByRole("heading", { name: "Rounds ui" });
    const now = () => screen.getByTestId("rounds-now").textContent ?? "";
    // Live: round 1's phases in words, and while its run trains, a progress bar with the time left.
    await waitFor(() => expect(now()).toMatch(/^Round 1 of up to 2: training on 4 rows/), { timeout: 120_000 });
    await waitFor(() => expect(now()).toMatch(/train [1-9]\d*\/16 steps · elapsed \d+:\d\d · ETA \d+:\d\d/), { timeout: 60_000 });
    expect(Number(screen.getByRole("progressbar", { name: "Round 1 progress" }).getAttribute("value"))).toBeGreaterThan(0);
    expect(screen.getByTestId("rounds-table").textContent).toContain("training");

    // Cancel with the page's button: the run stops at a checkpoint, the page says so, and Resume goes on.
    fireEvent.click(screen.getByRole("button", { name: "Cancel the rounds" }));
    await waitFor(() => expect(screen.getByTestId("rounds-state").textContent).toBe("cancelled"), { timeout: 60_000 });
    expect(screen.queryByTestId("rounds-now")).toBeNull();
    const cut = engine.getRounds({ id: started.id }).rounds[0]!;
    expect(cut.state).not.toBe("done");
    fireEvent.click(screen.getByRole("button", { name: "Resume the rounds" }));
    await screen.findByRole("button", { name: "Cancel the rounds" });
    await waitFor(() => expect(now()).toMatch(/^Round 1 of up to 2: preference training \(DPO\) on \d+ pairs/), { timeout: 120_000 });
    await waitFor(() => expect(screen.getByTestId("rounds-state").textContent).toBe("completed"), { timeout: 280_000 });

    // The table is the engine's stored state, round by round.
    const loop = engine.getRounds({ id: started.id });
    expect(loop.rounds).toHaveLength(2);
    expect(loop.rounds[0]!.run_id).toBe(cut.run_id); // not trained again
    const pct = (v: number) => `${v.toFixed(1)}%`;
    const match = (m: { lc_win_rate: number; lc_low: number; lc_high: number }) => `${pct(m.lc_win_rate)} (${pct(m.lc_low)} – ${pct(m.lc_high)})`;
    const rows = within(screen.getByTestId("rounds-table")).getAllByRole("row");
    expect(within(rows[0]!).getAllByRole("columnheader").map((c) => c.textContent)).toEqual(["Round", "Model", "Rows kept", "Pairs", "Vs the base (95% CI)", "Vs the round before (95% CI)", "State"]);
    loop.rounds.forEach((r, i) => {
      const cells = within(rows[i + 1]!).getAllByRole("cell").map((c) => c.textContent);
      expect(cells[0]).toBe(`${r.index}${loop.best_round === r.index ? "★ best" : ""}`);
      expect(cells[1]).toBe(`ui-r${r.index}then ui-r${r.index}-dpo`);
      expect(cells[2]).toBe(`4 of ${r.candidates}`);
      expect(cells[3]).toBe(`${r.pair_rows}${r.pairs_dropped ? `${r.pairs_dropped} too close to call` : ""}`);
      expect(cells[4]).toBe(match(r.vs_base!));
      expect(cells[5]).toBe(r.index === 1 ? "(the base model)" : match(r.vs_previous!));
      expect(cells[6]).toBe(roundState(r, loop).label + (r.reason ? `: ${r.reason}` : ""));
    });
    // The curve: both rounds against the base and against the round before, and the threshold.
    const series = winRateSeries(loop);
    expect(series.map((s) => s.points.map((p) => [p.x, p.y]))).toEqual([
      loop.rounds.map((r) => [r.index, r.vs_base!.lc_win_rate]),
      [[1, loop.rounds[0]!.vs_base!.lc_win_rate], [2, loop.rounds[1]!.vs_previous!.lc_win_rate]],
      [[1, 0], [2, 0]],
    ]);
    const chart = document.querySelector(".rounds .chart")!;
    expect(chart.getAttribute("data-points")).toBe("6");
    expect(chart.querySelector("svg")!.getAttribute("aria-label")).toContain(`vs the base model last ${Number(loop.rounds[1]!.vs_base!.lc_win_rate.toPrecision(4))}`);
    expect(chart.textContent).toContain("round 2");
    // Why it stopped, and the round to use.
    expect(screen.getByTestId("rounds-outcome").textContent).toBe(`Stopped: ${loop.stopped}.Best: round 2. Open its model`);
    expect(loopNow(loop)).toBeNull();
    expect(document.querySelector("main")!.textContent).not.toMatch(CONFIG_KEY);

    // Each run is one click away; the best round's model is its DPO run.
    fireEvent.click(screen.getByRole("button", { name: "Open round 1's training" }));
    expect(useAppStore.getState().view).toEqual({ name: "run", id: loop.rounds[0]!.run_id });
    act(() => useAppStore.getState().navigate({ name: "rounds", id: loop.id }));
    fireEvent.click(await screen.findByRole("button", { name: "Open its model" }));
    expect(useAppStore.getState().view).toEqual({ name: "run", id: loop.rounds[1]!.dpo_run_id });
    await engine.close();
  }, 420_000);

  it("starts rounds from a finished run's page: the form's checks, then its rounds' page", async () => {
    const runs = await tinyRuns();
    const engine = new Engine({ home: runs.home });
    const client = engineClient(engine);
    const unsubscribe = client.subscribe((e) => applyEngineEvent(e));
    const id = runs.ids[0]!;
    useAppStore.setState({ ...initial, view: { name: "run", id }, runs: { [id]: engine.getRun({ id }).status }, roundLoops: {}, progress: {} }, true);
    render(
      <ClientContext.Provider value={client}>
        <RunDetail id={id} home={runs.home} />
      </ClientContext.Provider>,
    );
    fireEvent.click(await screen.findByRole("button", { name: "Improve with rounds" }));
    const form = within(screen.getByRole("region", { name: "Improve with rounds" }));
    const start = form.getByRole("button", { name: "Start the rounds" }) as HTMLButtonElement;
    // The tiny run held out a split, not a file: the rounds need a prompt file, and say so.
    expect(form.getByText("Every round is judged on the same prompts, which it never trains on: give a prompt file.")).toBeTruthy();
    expect(start.disabled).toBe(true);
    fireEvent.change(form.getByLabelText("Rounds at most"), { target: { value: "0" } });
    expect(form.getByText("Rounds at most: give a whole number from 1 to 100.")).toBeTruthy();
    fireEvent.change(form.getByLabelText("Rounds at most"), { target: { value: "2" } });
    fireEvent.change(form.getByLabelText("Rows each round"), { target: { value: "4" } });
    fireEvent.click(form.getByRole("checkbox", { name: /Then preference training \(DPO\) each round/ }));
    fireEvent.change(form.getByLabelText("Prompts"), { target: { value: prompts } });
    fireEvent.change(form.getByLabelText("Judge"), { target: { value: judge } });
    expect(document.querySelector(".rounds-starter")!.textContent).not.toMatch(CONFIG_KEY);
    expect(start.disabled).toBe(false);
    fireEvent.click(start);
    await waitFor(() => expect(useAppStore.getState().view.name).toBe("rounds"));
    const loopId = (useAppStore.getState().view as { id: string }).id;
    const loop = engine.getRounds({ id: loopId });
    // The loop starts from the run, on its base model and settings, trained as SFT each round, with DPO after.
    expect(loop).toMatchObject({ name: "lr-high-rounds", start_run: id, base_model: engine.getRun({ id }).config.model.path, prompts });
    expect(loop.spec).toMatchObject({ rounds: 2, judge, synth: { method: "magpie", n: 4, responses: 2 }, dpo: { min_margin: 0.1 } });
    expect(loop.base_config).toMatchObject({ method: "sft", init_from: id, preference: null });
    await waitFor(() => expect(engine.getRounds({ id: loopId }).rounds[0]).toMatchObject({ synth_from: id, parent_run: id }));
    await engine.call("cancelRounds", { id: loopId });
    // The request for a run of another method: still SFT rounds, from that run.
    const { request } = roundsRequest(DEFAULT_ROUNDS_FORM, { judge: "", prompts: "/p.txt", limit: 200, answerTokens: 256 }, { id: "d-1", name: "d", base: "/m" }, { method: "dpo", preference: { beta: 0.1 }, model: { path: "/x" }, data: { train: "/t.jsonl" } });
    expect(request.config).toMatchObject({ method: "sft", preference: null, init_from: "d-1", model: { path: "/m" }, name: "d-rounds" });
    expect(request.spec).toEqual({ rounds: 3, synth: { method: "magpie", n: 200 }, judge: null, prompts: "/p.txt", limit: 200, max_new_tokens: 256 });
    unsubscribe();
    await engine.close();
  }, 300_000);
});
