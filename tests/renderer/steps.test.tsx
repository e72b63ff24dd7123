// @vitest-environment jsdom
/**
 * Wizard steps against the real engine, in-process (the transport calls Engine.dispatch; a dropped
 * File goes through the same upload module the HTTP server uses).
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { Engine } from "../../engine/api/engine";
import { saveUploadedDataset } from "../../engine/datasets-upload/upload";
import { createClient, type EngineClient } from "../../renderer/src/client/engine-client";
import { ClientContext } from "../../renderer/src/client/context";
import { Wizard } from "../../renderer/src/wizard/Wizard";
import { LineChart } from "../../renderer/src/components/LineChart";
import { useAppStore } from "../../renderer/src/store/store";
import { DEFAULT_DRAFT, draftToConfig } from "../../renderer/src/lib/draft";
import { validateConfig } from "../../engine/config/load";
import { PROJECT_ROOT } from "../../engine/paths";
import { TINY_DATA, ensureTinyModel } from "../helpers/fixture";

const engine = new Engine({ home: mkdtempSync(join(tmpdir(), "whetstone-steps-")) });
const client: EngineClient = createClient({
  call: (method, input) => engine.dispatch(method, input),
  subscribe: (cb) => {
    engine.events.on("event", cb);
    return () => void engine.events.off("event", cb);
  },
  fileForEngine: async (file) => {
    // jsdom's File has no arrayBuffer(); FileReader is what it offers.
    const bytes = Buffer.from(await new Promise<ArrayBuffer>((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result as ArrayBuffer);
      reader.readAsArrayBuffer(file);
    }));
    return { path: (await saveUploadedDataset(engine.store.home, file.name, Readable.from([bytes]))).path, uploaded: true };
  },
});
afterAll(() => engine.close());

const initial = useAppStore.getState();
beforeEach(() => {
  localStorage.clear();
  useAppStore.setState({ ...initial, draft: DEFAULT_DRAFT, step: "model" }, true);
});
afterEach(cleanup);

const renderWizard = () =>
  render(
    <ClientContext.Provider value={client}>
      <Wizard home={engine.store.home} />
    </ClientContext.Provider>,
  );
const next = () => screen.getByRole("button", { name: "Next" }) as HTMLButtonElement;
const drop = (name: string, text: string) => fireEvent.drop(screen.getByTestId("dropzone"), { dataTransfer: { files: [new File([text], name)] } });

describe("wizard steps", () => {
  it("model: a made-up folder is refused at once, saying what is missing; the catalog lists memory per method", async () => {
    renderWizard();
    expect(next().disabled).toBe(true);
    expect(screen.getByText(/Choose a model folder/)).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Local model folder"), { target: { value: "/models/made-up" } });
    expect((await screen.findAllByText("There is no folder at /models/made-up.")).length).toBeGreaterThan(0);
    expect(next().disabled).toBe(true);
    fireEvent.change(screen.getByLabelText("Local model folder"), { target: { value: ensureTinyModel() } });
    await waitFor(() => expect(next().disabled).toBe(false));
    const check = screen.getByRole("list", { name: "Model folder check" });
    expect(within(check).getAllByText("✓").length).toBe(5);
    const row = (await screen.findByText("Qwen2.5-0.5B-Instruct")).closest("tr")!;
    expect(within(row).getAllByText(/GiB/).length).toBe(4);
    // The catalog is one tab stop: one button in it is tabbable, arrow keys move on.
    const buttons = () => [...document.querySelectorAll<HTMLButtonElement>("table.catalog tbody button")];
    expect(buttons().filter((b) => b.tabIndex === 0)).toHaveLength(1);
    buttons()[0]!.focus();
    fireEvent.keyDown(buttons()[0]!, { key: "ArrowDown" });
    expect(document.activeElement).toBe(buttons()[1]);
    expect(buttons().filter((b) => b.tabIndex === 0)).toEqual([buttons()[1]]);
  });

  it("data: a malformed file shows its line-level error and blocks Next", async () => {
    useAppStore.setState({ step: "data", draft: { ...DEFAULT_DRAFT, modelPath: "/m" } });
    renderWizard();
    drop("bad-comma.jsonl", readFileSync(join(PROJECT_ROOT, "tests/fixtures/datasets/malformed/bad-comma.jsonl"), "utf8"));
    const verdict = await screen.findByTestId("verdict");
    expect(verdict.textContent).toMatch(/^✗/);
    const issues = screen.getByLabelText("Dataset problems").textContent!;
    expect(issues).toMatch(/DATA_JSON_SYNTAX/);
    expect(issues).toMatch(/bad-comma\.jsonl:3/);
    expect(next().disabled).toBe(true);
    // Skipping the bad row makes the other two trainable; the run's config says so.
    fireEvent.click(screen.getByLabelText(/Train on the 2 valid samples/));
    await waitFor(() => expect(screen.getByTestId("verdict").textContent).toMatch(/^✓/));
    expect(next().disabled).toBe(false);
    expect(useAppStore.getState().draft.skipInvalid).toBe(true);
    // The choice belonged to that file: the next file starts without it, and a malformed one is refused again.
    drop("bad-again.jsonl", readFileSync(join(PROJECT_ROOT, "tests/fixtures/datasets/malformed/bad-comma.jsonl"), "utf8").replace("\n", "\n\n"));
    await waitFor(() => expect(useAppStore.getState().draft.dataName).toBe("bad-again.jsonl"));
    await waitFor(() => expect(screen.getByTestId("verdict").textContent).toMatch(/^✗/));
    expect(useAppStore.getState().draft.skipInvalid).toBe(false);
    expect(screen.getByLabelText("Dataset problems").textContent).toMatch(/bad-again\.jsonl:\d/);
  });

  it("data: a valid file shows stats and a histogram and allows Next", async () => {
    useAppStore.setState({ step: "data", draft: { ...DEFAULT_DRAFT, modelPath: "" } });
    renderWizard();
    drop("tiny-chat.jsonl", readFileSync(TINY_DATA, "utf8"));
    expect((await screen.findByTestId("verdict")).textContent).toMatch(/^✓/);
    expect(screen.getByText("Samples").previousSibling!.textContent).toBe("111");
    expect(screen.getByRole("list", { name: "Turns per conversation" }).children.length).toBeGreaterThan(0);
    expect(useAppStore.getState().draft.dataName).toBe("tiny-chat.jsonl");
  });

  it("method: preference methods need pairs, and goldfish only applies with an SFT term", async () => {
    const report = await engine.inspectDataset({ path: TINY_DATA });
    useAppStore.setState({ step: "method", report, draft: { ...DEFAULT_DRAFT, modelPath: "/m", dataPath: TINY_DATA, goldfish: true } });
    renderWizard();
    expect(next().disabled).toBe(false);
    const dpo = screen.getByLabelText(/^DPO/) as HTMLInputElement;
    if (dpo.disabled) return; // an engine build without preference methods shows them disabled
    fireEvent.click(dpo);
    expect((screen.getByLabelText(/^Goldfish loss/) as HTMLInputElement).disabled).toBe(true);
    expect(screen.getByText(/trains on preference pairs/)).toBeTruthy();
    expect(next().disabled).toBe(true);
  });

  it("method: a finished run is a starting point, with its lineage; choosing DPO shows its settings and names the run", async () => {
    const model = ensureTinyModel();
    const config = validateConfig({ name: "sft-first", model: { path: model }, data: { train: TINY_DATA } }, { baseDir: PROJECT_ROOT });
    const sft = engine.store.create(config);
    const adapter = join(engine.store.runDir(sft.id), "outputs", "adapter");
    mkdirSync(adapter, { recursive: true });
    writeFileSync(join(adapter, "adapter_config.json"), "{}");
    engine.store.update(sft.id, { state: "completed", outputs: { adapter }, finished_at: new Date().toISOString() });
    const report = await engine.inspectDataset({ path: join(PROJECT_ROOT, "examples/data/tiny-pairs.jsonl") });
    useAppStore.setState({ step: "method", report, draft: { ...DEFAULT_DRAFT, modelPath: model, dataPath: report.path, name: "sft-first" } });
    renderWizard();
    const choice = await screen.findByRole("radio", { name: /sft-first/ });
    expect(choice.closest("label")!.textContent).toMatch(/Starts from its LoRA adapter, merged into tiny-llama first\. Lineage: SFT /);
    fireEvent.click(choice);
    expect(useAppStore.getState().draft.initFrom).toMatchObject({ id: sft.id, kind: "adapter", base: model });
    fireEvent.click(screen.getByRole("radio", { name: /^DPO/ }));
    expect((screen.getByLabelText("β (beta)") as HTMLInputElement).value).toBe("0.1");
    expect(screen.getByText(/How far the model may move from the starting point/)).toBeTruthy();
    expect(useAppStore.getState().draft.name).toBe("sft-first-dpo");
    await waitFor(() => expect(next().disabled).toBe(false));
    expect(draftToConfig(useAppStore.getState().draft)).toMatchObject({ method: "dpo", init_from: sft.id, preference: {} });
    fireEvent.change(screen.getByLabelText("β (beta)"), { target: { value: "0.3" } });
    expect(draftToConfig(useAppStore.getState().draft)).toMatchObject({ preference: { beta: 0.3 } });
  });

  it("settings: the engine's plan shows the memory estimate for the tiny model", async () => {
    const model = ensureTinyModel();
    useAppStore.setState({ step: "settings", draft: { ...DEFAULT_DRAFT, modelPath: model, dataPath: TINY_DATA } });
    renderWizard();
    const plan = await screen.findByTestId("plan");
    expect(plan.textContent).toMatch(/Peak memory about [\d.]+ GiB/);
    fireEvent.click(screen.getByText("Advanced settings"));
    expect(screen.getByLabelText("Gradient accumulation")).toBeTruthy();
    // The LoRA kind reaches the config the engine validates (DoRA, rsLoRA: lora.variant).
    fireEvent.change(screen.getByLabelText("LoRA kind"), { target: { value: "dora" } });
    const config = draftToConfig(useAppStore.getState().draft);
    expect(config).toMatchObject({ lora: { variant: "dora" } });
    expect(validateConfig(config, { checkPaths: false }).lora.variant).toBe("dora");
  });
});

describe("settings against the plan", () => {
  it("a plan that will not fit offers its changes as buttons that apply them, and Next needs “Train anyway”", async () => {
    const model = ensureTinyModel();
    // No data report: the plan assumes full rows, and 512 rows of 65k tokens do not fit in this machine's memory.
    useAppStore.setState({ step: "settings", report: null, draft: { ...DEFAULT_DRAFT, modelPath: model, dataPath: TINY_DATA, microBatchSize: 512, maxLength: 65536, suggestedFor: TINY_DATA } });
    renderWizard();
    const alert = await screen.findByTestId("no-fit");
    await waitFor(() => expect(next().disabled).toBe(true));
    expect(screen.getByText(/will not fit in memory: apply one of the suggested changes/)).toBeTruthy();
    const buttons = within(alert).getAllByRole("button");
    expect(buttons.length).toBeGreaterThan(0);
    for (const b of buttons) expect(b.textContent).not.toMatch(/training\.|data\.|_/);
    fireEvent.click(within(alert).getByLabelText(/Train anyway/));
    await waitFor(() => expect(next().disabled).toBe(false));
    // Applying a change alters the config: the plan is made again, and "train anyway" no longer applies to it.
    const before = { ...useAppStore.getState().draft };
    fireEvent.click(buttons[0]!);
    const after = useAppStore.getState().draft;
    expect([after.gradientCheckpointing !== before.gradientCheckpointing, after.microBatchSize !== before.microBatchSize, after.maxLength !== before.maxLength].some(Boolean)).toBe(true);
  });
});

describe("LineChart", () => {
  it("draws 100k points as about one point per pixel", () => {
    const points = Array.from({ length: 100_000 }, (_, i) => ({ x: i + 1, y: 5 / Math.sqrt(i + 1) }));
    const { container } = render(<LineChart title="Loss" series={[{ label: "train", points }]} />);
    expect(container.querySelector("figure")!.getAttribute("data-points")).toBe("100000");
    const d = container.querySelector("path.line")!.getAttribute("d")!;
    const drawn = d.split(/[ML]/).filter(Boolean).length;
    expect(drawn).toBeLessThanOrEqual(600);
    expect(drawn).toBeGreaterThan(300);
    expect(container.querySelector("svg")!.getAttribute("aria-label")).toMatch(/^Loss: train last/);
  });

  it("draws a single point and a one-step run, with no negative axis and labels that keep their digits", () => {
    const { container } = render(
      <LineChart title="Loss" series={[{ label: "train", points: [{ x: 1, y: 0.002511 }] }, { label: "validation", points: [{ x: 1, y: 0.0024 }] }]} />,
    );
    expect(container.querySelectorAll("circle.dot")).toHaveLength(2);
    const ticks = [...container.querySelectorAll("text.tick")].map((t) => t.textContent!);
    expect(ticks.every((t) => !t.startsWith("-"))).toBe(true);
    expect(ticks.slice(0, 3).every((t) => /^\d+\.\d+$/.test(t))).toBe(true); // "0.00276", never ".002511" or "-0.5"
    const flat = render(<LineChart title="Learning rate" series={[{ label: "lr", points: [{ x: 1, y: 0 }] }]} />);
    expect([...flat.container.querySelectorAll("text.tick")].map((t) => t.textContent).some((t) => t!.startsWith("-"))).toBe(false);
  });
});
