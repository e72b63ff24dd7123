/** The store: slices, engine events routed through slice actions, the draft persisted. */
import { describe, expect, it } from "vitest";
import { applyEngineEvent, createAppStore } from "../../renderer/src/store/store";
import { DEFAULT_DRAFT, chainedName, draftToConfig, stepProblems, stepState, type StepContext } from "../../renderer/src/lib/draft";
import { RunConfigSchema } from "../../engine/config/schema";
import type { RunStatus } from "../../engine/runs/types";

function memory(): Storage {
  const m = new Map<string, string>();
  return { get length() { return m.size; }, clear: () => m.clear(), getItem: (k) => m.get(k) ?? null, key: (i) => [...m.keys()][i] ?? null, removeItem: (k) => void m.delete(k), setItem: (k, v) => void m.set(k, v) };
}

const run = (over: Partial<RunStatus> = {}): RunStatus => ({
  id: "r1", name: "r", method: "sft", state: "running", created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z", started_at: null, finished_at: null,
  step: 0, total_steps: 10, last_loss: null, first_loss: null, eta_s: null, phase: null, owner_pid: null, worker_pid: null, last_checkpoint: null, outputs: {}, error: null, attempts: 0, device: null, ...over,
} as RunStatus);

describe("app store", () => {
  it("routes engine events to the runs and jobs slices", () => {
    const store = createAppStore(memory());
    applyEngineEvent({ type: "run", run: run() }, store);
    applyEngineEvent({ type: "metrics", runId: "r1", row: { step: 1, loss: 3 } }, store);
    applyEngineEvent({ type: "metrics", runId: "r1", row: { step: 2, loss: 2.5 } }, store);
    applyEngineEvent({ type: "log", runId: "r1", line: "step 2" }, store);
    applyEngineEvent({ type: "progress", runId: "r1", progress: { phase: "train", current: 2, total: 10, unit: "steps", elapsed_s: 1, eta_s: 4, message: "" } }, store);
    applyEngineEvent({ type: "run", run: run({ step: 2, last_loss: 2.5 }) }, store);
    const s = store.getState();
    expect(s.runs.r1!.step).toBe(2);
    expect(s.metrics.r1!.rows.map((r) => r.loss)).toEqual([3, 2.5]);
    expect(s.metrics.r1!.version).toBe(2);
    expect(s.logs.r1).toEqual(["step 2"]);
    expect(s.progress.r1!.eta_s).toBe(4);
  });

  it("replaces repeated steps after a resume, as the run's metrics file does", () => {
    const store = createAppStore(memory());
    for (const step of [1, 2, 3, 4]) store.getState().appendMetrics("r", { step, loss: step });
    store.getState().appendMetrics("r", { step: 3, loss: 30 });
    expect(store.getState().metrics.r!.rows.map((r) => [r.step, r.loss])).toEqual([[1, 1], [2, 2], [3, 30]]);
  });

  it("appends 100k metrics rows in linear time (in place, versioned)", () => {
    // Measured as a ratio in the same run (a busy machine slows both alike): 10× the rows take about
    // 10× the time when each append is O(1); copying the rows on every append would make it about 100×.
    const append = (n: number) => {
      const store = createAppStore(memory());
      const t = performance.now();
      for (let step = 1; step <= n; step++) store.getState().appendMetrics("big", { step, loss: 1 / step });
      return { store, ms: performance.now() - t };
    };
    append(10_000); // warm-up: the JIT
    const small = append(10_000), big = append(100_000);
    const rows = big.store.getState().metrics.big!;
    expect(rows.rows).toHaveLength(100_000);
    expect(rows.version).toBe(100_000);
    expect(big.ms / small.ms, `10k rows: ${small.ms.toFixed(0)} ms, 100k rows: ${big.ms.toFixed(0)} ms`).toBeLessThan(30);
  });

  it("keeps the wizard draft, step and theme across a reload, and nothing else", () => {
    const storage = memory();
    const a = createAppStore(storage);
    a.getState().updateDraft({ modelPath: "/models/x", goldfish: true });
    a.getState().setStep("method");
    a.getState().setTheme("dark");
    a.getState().upsertRun(run());
    const b = createAppStore(storage);
    expect(b.getState().draft).toMatchObject({ modelPath: "/models/x", goldfish: true, method: "sft" });
    expect(b.getState().step).toBe("method");
    expect(b.getState().theme).toBe("dark");
    expect(b.getState().runs).toEqual({});
  });

  it("keeps the engine's last answers about the draft across a reload, and a chained run resets the file's choices", () => {
    const storage = memory();
    const a = createAppStore(storage);
    const report = { path: "/d.jsonl", trainable: true, kind: "chat", issues: Array.from({ length: 50 }, (_, i) => ({ code: "X", line: i })) } as never;
    a.setState({ report, modelCheck: { input: "/m", path: "/m", ok: true, adapter: false, architecture: null, checks: [] } });
    a.getState().updateDraft({ modelPath: "/m", dataPath: "/d.jsonl", skipInvalid: true });
    const b = createAppStore(storage);
    expect(b.getState().report).toMatchObject({ path: "/d.jsonl", trainable: true });
    expect((b.getState().report as unknown as { issues: unknown[] }).issues).toHaveLength(20); // the summary is what is shown
    expect(b.getState().modelCheck?.ok).toBe(true);
    b.getState().chainFromRun({ id: "r1", name: "first", method: "sft", kind: "adapter", base: "/m", lineage: [] });
    expect(b.getState().draft).toMatchObject({ name: "first-sft", initFrom: { id: "r1" }, dataPath: null, skipInvalid: false, runId: null, modelPath: "/m" });
    expect(b.getState().step).toBe("data");
    expect(b.getState().report).toBeNull();
  });

  it("fills fields added since an older draft was saved", () => {
    const storage = memory();
    storage.setItem("whetstone-ui", JSON.stringify({ state: { draft: { modelPath: "/m" }, step: "data", theme: "light" }, version: 1 }));
    const s = createAppStore(storage).getState();
    expect(s.draft).toEqual({ ...DEFAULT_DRAFT, modelPath: "/m" });
  });
});

describe("draft", () => {
  it("becomes a config the engine's schema accepts", () => {
    const d = { ...DEFAULT_DRAFT, modelPath: "/m", dataPath: "/d.jsonl", goldfish: true, neftune: false };
    const parsed = RunConfigSchema.parse(draftToConfig(d));
    expect(parsed.training.goldfish).toMatchObject({ k: 4 });
    expect(parsed.training.neftune_alpha).toBe(0);
  });

  it("blocks Next with a sentence per problem, and says “checking” while an answer is pending", () => {
    const none: StepContext = { modelCheck: null, checkingModel: false, report: null, reportError: null, inspecting: false, plan: null };
    const report = (over: Partial<NonNullable<StepContext["report"]>> = {}) => ({ path: "/d", trainable: true, kind: "chat", ...over });
    expect(stepProblems("model", DEFAULT_DRAFT, none)).toEqual([expect.stringMatching(/model folder/)]);
    // A typed path is checked before Next: pending first, then what is missing.
    expect(stepState("model", { ...DEFAULT_DRAFT, modelPath: "/m" }, none)).toEqual({ problems: [], checking: "Checking the model folder…" });
    const missing = { input: "/m", ok: false, checks: [{ ok: false, required: true, detail: "There is no folder at /m." }, { ok: false, required: false, detail: "No chat template" }] };
    expect(stepProblems("model", { ...DEFAULT_DRAFT, modelPath: "/m" }, { ...none, modelCheck: missing })).toEqual(["There is no folder at /m."]);
    // A stale answer (another path) is not shown as this path's.
    expect(stepState("model", { ...DEFAULT_DRAFT, modelPath: "/other" }, { ...none, modelCheck: missing }).checking).toMatch(/Checking/);
    expect(stepState("data", { ...DEFAULT_DRAFT, dataPath: "/d" }, { ...none, inspecting: true })).toEqual({ problems: [], checking: "Checking the dataset…" });
    expect(stepProblems("data", { ...DEFAULT_DRAFT, dataPath: "/d" }, { ...none, report: report({ trainable: false }) })[0]).toMatch(/errors that block training/);
    // While the same file is checked again, its last report keeps the step done.
    expect(stepState("data", { ...DEFAULT_DRAFT, dataPath: "/d" }, { ...none, report: report(), inspecting: true })).toEqual({ problems: [], checking: null });
    const d = { ...DEFAULT_DRAFT, modelPath: "/m", dataPath: "/d", learningRate: -1 };
    expect(stepProblems("settings", d, { ...none, report: report() }).join()).toMatch(/^Learning rate: /);
    expect(stepProblems("method", { ...DEFAULT_DRAFT, modelPath: "/m", dataPath: "/d", method: "dpo" }, { ...none, report: report() })[0]).toMatch(/preference pairs/);
    expect(stepProblems("method", { ...DEFAULT_DRAFT, modelPath: "/m", dataPath: "/d" }, { ...none, report: report() })).toEqual([]);
    // A plan that does not fit blocks Next until the user chooses to train anyway, for exactly this config.
    const ok = { ...DEFAULT_DRAFT, modelPath: "/m", dataPath: "/d" };
    const config = JSON.stringify(draftToConfig(ok));
    expect(stepProblems("settings", ok, { ...none, report: report(), plan: { fits: false, config } })).toEqual([expect.stringMatching(/will not fit.*Train anyway/)]);
    expect(stepProblems("settings", { ...ok, trainAnyway: config }, { ...none, report: report(), plan: { fits: false, config } })).toEqual([]);
    // An adapter applies to its own base model only.
    const from = { id: "sft-1", name: "sft-run", method: "sft", kind: "adapter" as const, base: "/base", lineage: [] };
    expect(stepProblems("method", { ...ok, initFrom: from }, { ...none, report: report() })[0]).toMatch(/trained an adapter for \/base/);
    expect(draftToConfig({ ...ok, modelPath: "/base", initFrom: from })).toMatchObject({ init_from: "sft-1" });
    // A chained run is named after its parent and method, until the user names it.
    expect(chainedName({ name: "sft-run", initFrom: from }, "dpo")).toBe("sft-run-dpo");
    expect(chainedName({ name: "sft-run-dpo", initFrom: from }, "orpo")).toBe("sft-run-orpo");
    expect(chainedName({ name: "mine", initFrom: from }, "dpo")).toBe("mine");
  });

  it("turns goldfish off for methods without an SFT term", () => {
    const cfg = draftToConfig({ ...DEFAULT_DRAFT, modelPath: "/m", dataPath: "/d", method: "dpo", goldfish: true }) as { training: { goldfish: unknown }; preference: unknown };
    expect(cfg.training.goldfish).toBeNull();
    expect(cfg.preference).toEqual({});
  });
});
