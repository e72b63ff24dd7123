// @vitest-environment jsdom
/**
 * The Settings step's GPUs choice: shown on a machine with more than one GPU (the count the engine's
 * doctor reports, made here from a recorded H100 machine's probes with four GPUs), 1 to the count or
 * all of them, disabled with its reason for a method that trains on one GPU; what is chosen reaches
 * the config the engine validates as training.devices.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { analyze } from "../../engine/doctor/analyze";
import { parseNvidiaSmi, type Probes } from "../../engine/doctor/probes";
import { validateConfig } from "../../engine/config/load";
import { createClient } from "../../renderer/src/client/engine-client";
import { ClientContext } from "../../renderer/src/client/context";
import { SettingsStep } from "../../renderer/src/wizard/SettingsStep";
import { useAppStore } from "../../renderer/src/store/store";
import { DEFAULT_DRAFT, draftToConfig, type Draft } from "../../renderer/src/lib/draft";

/** The doctor's report of a machine with `gpus` H100s (the recorded h100 probes, its GPU repeated). */
function doctorWith(gpus: number) {
  const fx = JSON.parse(readFileSync(join(__dirname, "../fixtures/doctor/h100.json"), "utf8")) as { nvidia_smi: string; python: NonNullable<Probes["python"]> };
  const gpu = parseNvidiaSmi(fx.nvidia_smi)[0]!;
  const device = fx.python.torch!.devices![0]!;
  return analyze({
    os: { platform: "linux", release: "6.8", arch: "x64", memory_bytes: 512 * 2 ** 30, cpu: "test", cores: 64 },
    nvidia: Array.from({ length: gpus }, () => gpu),
    nvidia_error: null,
    python: { ...fx.python, torch: { ...fx.python.torch!, devices: Array.from({ length: gpus }, () => device) } },
    python_error: null,
    disks: [],
  });
}

function renderSettings(gpus: number, draft: Partial<Draft> = {}) {
  useAppStore.setState({ step: "settings", report: null, plan: null, draft: { ...DEFAULT_DRAFT, modelPath: "/m", dataPath: "/d.jsonl", ...draft } });
  const report = doctorWith(gpus);
  // A fresh client per render: the machine is asked once per client.
  const client = createClient({
    call: async (method) => {
      if (method === "doctor") return report;
      throw new Error(`not used here: ${method}`);
    },
    subscribe: () => () => {},
    fileForEngine: async () => ({ path: "", uploaded: false }),
  });
  render(
    <ClientContext.Provider value={client}>
      <SettingsStep />
    </ClientContext.Provider>,
  );
}

const gpusChoice = () => screen.findByLabelText("GPUs") as Promise<HTMLSelectElement>;
const config = () => draftToConfig(useAppStore.getState().draft);

beforeEach(() => localStorage.clear());
afterEach(cleanup);

describe("the GPUs choice", () => {
  it("offers 1 to the count and all of them; the choice is the config's devices", async () => {
    renderSettings(4);
    const select = await gpusChoice();
    expect([...select.options].map((o) => o.textContent)).toEqual(["1", "2", "3", "4", "All (4)"]);
    expect(select.value).toBe("1");
    expect(select.disabled).toBe(false);
    expect((config().training as Record<string, unknown>).devices).toBeUndefined(); // one GPU: the schema's default
    fireEvent.change(select, { target: { value: "auto" } });
    expect(validateConfig(config(), { checkPaths: false }).training.devices).toBe("auto");
    fireEvent.change(select, { target: { value: "2" } });
    expect(useAppStore.getState().draft.devices).toBe(2);
    expect(validateConfig(config(), { checkPaths: false }).training.devices).toBe(2);
  });

  it("says when the gradient accumulation leaves GPUs idle, in words", async () => {
    renderSettings(4, { devices: "auto", gradientAccumulation: 1 });
    expect(await screen.findByText("With 4 GPUs, a gradient accumulation of 4, 8, … keeps every GPU busy on every step.")).toBeTruthy();
    cleanup();
    renderSettings(4, { devices: 2, gradientAccumulation: 4 });
    expect(await screen.findByText("Several GPUs share each step: the same training, faster.")).toBeTruthy();
  });

  it("is disabled, with the reason, for a method that trains on one GPU; the config then asks for one", async () => {
    renderSettings(4, { method: "kto", devices: 2 });
    const select = await gpusChoice();
    expect(select.disabled).toBe(true);
    expect(select.value).toBe("1");
    const reason = screen.getByText("KTO trains on one GPU for now.");
    expect(reason.textContent).not.toMatch(/devices|training\.|--/);
    expect((config().training as Record<string, unknown>).devices).toBeUndefined();
    expect(validateConfig(config(), { checkPaths: false }).method).toBe("kto"); // not refused for its devices
  });

  it("is not shown on a machine with one GPU", async () => {
    renderSettings(1);
    await waitFor(() => expect(screen.getByLabelText("Epochs")).toBeTruthy());
    await new Promise((r) => setTimeout(r, 50)); // the doctor's answer has come
    expect(screen.queryByLabelText("GPUs")).toBeNull();
  });
});
