// @vitest-environment jsdom
/**
 * The export step's "Push to the Hugging Face Hub" panel against the real engine in-process and the
 * loopback fake hub (engine/worker/tests/fakehub.py), on a finished tiny run: a malformed repo id is
 * refused in the field, someone else's repo is refused in words for people, and a private push shows
 * its progress while it runs, then the repo's address.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { Engine } from "../../engine/api/engine";
import type { EngineEvent } from "../../engine/api/events";
import { createClient } from "../../renderer/src/client/engine-client";
import { ClientContext } from "../../renderer/src/client/context";
import { PushPanel } from "../../renderer/src/wizard/PushPanel";
import { applyEngineEvent, useAppStore } from "../../renderer/src/store/store";
import { startFakeHub, type FakeHubProcess } from "../helpers/fakehub";
import { tempHome } from "../helpers/fixture";
import { tinyRuns } from "../engine/eval/tiny-runs";

const TOKEN = "hf_PanelTokenForTests0123456789abc";
let hub: FakeHubProcess;
let engine: Engine;
let runId: string;
let store: string;
const events: EngineEvent[] = [];

beforeAll(async () => {
  const runs = await tinyRuns();
  runId = runs.ids[0]!;
  const hubDir = tempHome();
  store = join(hubDir, "store");
  hub = await startFakeHub(hubDir, { repos: { "model:someone-else/their-model": join(runs.home, "runs", runId, "outputs", "adapter") }, store, tokens: { [TOKEN]: "write" } });
  engine = new Engine({ home: runs.home, workerEnv: { HF_ENDPOINT: hub.url, HF_TOKEN: TOKEN, WHETSTONE_KEYCHAIN: "none" } });
  engine.events.on("event", (e) => {
    events.push(e);
    applyEngineEvent(e);
  });
  useAppStore.getState().setRuns(engine.listRuns());
});

afterAll(async () => {
  cleanup();
  hub?.close();
  await engine?.close();
});

describe("PushPanel", () => {
  it("refuses a malformed repo id and someone else's repo, then pushes privately with progress and shows the address", async () => {
    const client = createClient({
      call: (method, input) => engine.dispatch(method, input),
      subscribe: (cb) => {
        engine.events.on("event", cb);
        return () => void engine.events.off("event", cb);
      },
      fileForEngine: async () => {
        throw new Error("no files in this test");
      },
    });
    render(
      <ClientContext.Provider value={client}>
        <PushPanel runId={runId} />
      </ClientContext.Provider>,
    );
    const repo = screen.getByLabelText("Repository") as HTMLInputElement;
    const pushButton = () => screen.getByRole("button", { name: /^Push/ }) as HTMLButtonElement;
    expect(pushButton().disabled).toBe(true);
    fireEvent.change(repo, { target: { value: "just-a-name" } });
    expect(screen.getByText(/Write it as your-name\/model-name/)).toBeTruthy();
    expect(pushButton().disabled).toBe(true);

    fireEvent.change(repo, { target: { value: "someone-else/their-model" } });
    fireEvent.click(pushButton());
    const refused = await screen.findByRole("alert", {}, { timeout: 120_000 });
    expect(refused.textContent).toContain("That repo belongs to someone else.");
    expect(refused.textContent).toContain("HUB_REPO_NOT_OURS");
    expect(refused.textContent).not.toMatch(/--[a-z]/); // the words above the engine's facts are for people

    fireEvent.change(repo, { target: { value: "fake-user/ui-push" } });
    fireEvent.click(screen.getByLabelText(/^Private repository/));
    fireEvent.click(screen.getByLabelText(/^adapter/));
    fireEvent.click(pushButton());
    expect(await screen.findByRole("button", { name: "Stop push" })).toBeTruthy();
    const link = (await screen.findByTestId("push-url", {}, { timeout: 240_000 })) as HTMLAnchorElement;
    expect(link.href).toBe(`${hub.url}/fake-user/ui-push`);
    expect(screen.getByTestId("push-result").textContent).toContain("(private)");
    expect(screen.queryByRole("alert")).toBeNull();

    const progress = events.flatMap((e) => (e.type === "progress" && e.runId === runId ? [e.progress] : []));
    expect(progress.map((p) => p.phase)).toEqual(expect.arrayContaining(["export", "hash", "upload", "commit"]));
    expect(progress.filter((p) => p.phase === "upload").every((p) => p.unit === "bytes")).toBe(true);
    expect(readdirSync(join(store, "fake-user", "ui-push")).sort()).toEqual(expect.arrayContaining(["README.md", "adapter_config.json", "adapter_model.safetensors"]));
    expect(hub.requests().find((r) => r.path === "/api/repos/create")?.payload?.visibility).toBe("private");
    await waitFor(() => expect(pushButton().textContent).toBe("Push"));
  }, 400_000);
});
