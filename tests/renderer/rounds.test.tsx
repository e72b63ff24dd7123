// @vitest-environment jsdom
/**
 * The rounds page against the real engine in-process, on the tiny model and the tiny judge: a loop of
 * two rounds with DPO after each SFT run, started through the API (as the CLI or another window
 * would), found on the runs page, followed live (the phase in words, its progress bar with time
 * left), cancelled and resumed with the page's buttons, and at the end every row of the table, the
 * win-rate curve and the outcome are checked against the loop's state as the engine stored it; each
 * round's runs and the best round's model are one click away. Nothing is faked: the statuses, events
 * and progress are the engine's own.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { Engine } from "../../engine/api/engine";
import { App } from "../../renderer/src/App";
import { createClient } from "../../renderer/src/client/engine-client";
import { useAppStore } from "../../renderer/src/store/store";
import { loopNow, roundState, winRateSeries } from "../../renderer/src/lib/rounds";
import { ensureTinyModel, tempHome, tinyConfig } from "../helpers/fixture";
import { ensureTinyJudge } from "../engine/eval/tiny-judge";

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

describe("the rounds page against the engine", () => {
  it("lists the loop, follows it live, cancels and resumes it, and shows each round's runs, rows, pairs and win rates", async () => {
    const engine = new Engine({ home: tempHome() });
    const client = createClient({
      call: (method, input) => engine.dispatch(method, input),
      subscribe: (cb) => {
        engine.events.on("event", cb);
        return () => void engine.events.off("event", cb);
      },
      fileForEngine: async () => ({ path: "", uploaded: false }),
    });
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
});
