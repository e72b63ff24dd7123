// @vitest-environment jsdom
/**
 * The Evaluate step's Benchmarks: the table from a report the engine builds (its real benchReport),
 * and the panel against the real engine in-process on a tiny run and the local lm-eval tasks
 * (engine/worker/tests/fixtures/bench), from the click to the stored report.
 */
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { Engine } from "../../engine/api/engine";
import { benchReport, changeLevel } from "../../engine/bench/bench";
import { PROJECT_ROOT } from "../../engine/paths";
import { createClient } from "../../renderer/src/client/engine-client";
import { ClientContext } from "../../renderer/src/client/context";
import { BenchPanel, BenchTable, chosenTasks } from "../../renderer/src/wizard/BenchPanel";
import { applyEngineEvent, useAppStore } from "../../renderer/src/store/store";
import { tinyRuns } from "../engine/eval/tiny-runs";

afterEach(cleanup);

const row = (task: string, metric: string, value: number, stderr: number | null, top = true) => ({ task, alias: top ? task : ` - ${task}`, top, metric, filter: "none", value, stderr, higher_is_better: true });
const side = (rows: ReturnType<typeof row>[]) => ({ rows, n_samples: { arc_challenge: 100, hellaswag: 100, mmlu: 50, mmlu_anatomy: 10 }, requests: 1, seconds: 1 });

describe("BenchTable", () => {
  const report = benchReport("run-1", {
    lm_eval_version: "0.4.13",
    tasks: ["arc_challenge", "hellaswag", "mmlu"],
    settings: { limit: 100 },
    seconds: 12,
    sides: {
      tuned: side([row("arc_challenge", "acc", 0.5, 0.05), row("hellaswag", "acc", 0.3, 0.04), row("mmlu", "acc", 0.41, 0.02), row("mmlu_anatomy", "acc", 0.2, 0.1, false)]),
      base: side([row("arc_challenge", "acc", 0.3, 0.05), row("hellaswag", "acc", 0.32, 0.04), row("mmlu", "acc", 0.5, 0.02), row("mmlu_anatomy", "acc", 0.3, 0.1, false)]),
    },
  });

  it("shows each benchmark's scores ± stderr and the change, marked only beyond twice its ±; a group's subtasks stay in the report", () => {
    render(<BenchTable report={report} />);
    const rows = within(screen.getByTestId("bench-table")).getAllByRole("row").slice(1);
    expect(rows.map((r) => r.textContent)).toEqual([
      "ARCacc1000.500 ± 0.0500.300 ± 0.050+0.200 ± 0.071 ▲", // 0.2 > 2 × sqrt(0.05² + 0.05²) = 0.141
      "HellaSwagacc1000.300 ± 0.0400.320 ± 0.040-0.020 ± 0.057 ", // within noise: unmarked
      "MMLUacc500.410 ± 0.0200.500 ± 0.020-0.090 ± 0.028 ▼",
    ]);
    expect(rows.map((r) => r.querySelector("[data-level]")!.getAttribute("data-level"))).toEqual(["better", "same", "worse"]);
    expect(report.rows.find((r) => r.task === "mmlu_anatomy")?.delta).toBeCloseTo(-0.1, 12);
    expect(screen.getByText(/lm-evaluation-harness 0\.4\.13, at most 100 questions per benchmark/)).toBeTruthy();
  });

  it("runs the ticked presets and the names typed, each once", () => {
    expect(chosenTasks(["arc_challenge", "gsm8k"], " hellaswag, arc_challenge  my_task ")).toEqual(["arc_challenge", "gsm8k", "hellaswag", "my_task"]);
    expect(chosenTasks([], "")).toEqual([]);
  });
});

describe("BenchPanel against the engine", () => {
  it("runs the chosen benchmarks on a finished run and shows the table the engine stored", async () => {
    const runs = await tinyRuns();
    const engine = new Engine({ home: runs.home });
    const runId = runs.ids[0]!;
    const client = createClient({
      call: (method, input) => engine.dispatch(method, input),
      subscribe: (cb) => {
        engine.events.on("event", cb);
        return () => void engine.events.off("event", cb);
      },
    });
    const unsubscribe = client.subscribe((e) => applyEngineEvent(e));
    useAppStore.getState().upsertRun(engine.getRun({ id: runId }).status);
    const tasks = mkdtempSync(join(tmpdir(), "whetstone-bench-ui-"));
    const fixtures = join(PROJECT_ROOT, "engine", "worker", "tests", "fixtures", "bench");
    for (const f of readdirSync(fixtures)) writeFileSync(join(tasks, f), readFileSync(join(fixtures, f), "utf8").replaceAll("{data_dir}", tasks));

    render(
      <ClientContext.Provider value={client}>
        <BenchPanel runId={runId} />
      </ClientContext.Provider>,
    );
    fireEvent.click(screen.getByRole("checkbox", { name: /ARC/ })); // the default preset off: nothing here downloads
    const start = screen.getByRole("button", { name: "Run the benchmarks" }) as HTMLButtonElement;
    expect(start.disabled).toBe(true); // no benchmark chosen
    fireEvent.change(screen.getByLabelText("More benchmarks, by name"), { target: { value: "whetstone_capitals" } });
    fireEvent.change(screen.getByLabelText("Folder of your own benchmarks"), { target: { value: tasks } });
    fireEvent.change(screen.getByLabelText("Questions per benchmark"), { target: { value: "4" } });
    fireEvent.click(start);
    expect(await screen.findByRole("button", { name: "Cancel" })).toBeTruthy();
    const table = await screen.findByTestId("bench-table", {}, { timeout: 240_000 });
    const stored = engine.getBench({ id: runId })!;
    expect(stored.settings).toMatchObject({ limit: 4 });
    const shown = within(table).getAllByRole("row").slice(1).map((r) => r.textContent);
    expect(shown).toEqual(
      stored.rows.map((r) => `whetstone_capitals${r.metric}4${r.tuned!.toFixed(3)} ± ${r.tuned_stderr!.toFixed(3)}${r.base!.toFixed(3)} ± ${r.base_stderr!.toFixed(3)}${r.delta! >= 0 ? "+" : ""}${r.delta!.toFixed(3)} ± ${r.delta_stderr!.toFixed(3)} ${{ better: "▲", worse: "▼", same: "" }[changeLevel(r)]}`),
    );
    expect(screen.getByRole("button", { name: "Benchmark again" })).toBeTruthy();
    expect(useAppStore.getState().progress[runId]?.unit).toBe("requests"); // the request progress reached the store
    unsubscribe();
    await engine.close();
  }, 300_000);
});
