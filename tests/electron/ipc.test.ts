/** The IPC registrar: sender and payload checks on every channel, events queued until ready. */
import { EventEmitter } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Engine } from "../../engine/api/engine";
import { APP_ORIGIN, CHANNELS, createRegistrar, registerEngineIpc } from "../../electron/ipc";
import { fork } from "node:child_process";
import { appLayout } from "../../engine/util/layout";
import { runSetup, setupEnv, stageFraction, type ForkSetup, type SetupEvent } from "../../electron/first-launch";
import type { EngineEvent } from "../../engine/api/events";

type Handler = (event: unknown, ...args: unknown[]) => unknown;

function fakeIpc() {
  const handlers = new Map<string, Handler>();
  const listeners = new Map<string, Handler>();
  return {
    ipcMain: { handle: (c: string, h: Handler) => void handlers.set(c, h), on: (c: string, h: Handler) => void listeners.set(c, h) },
    invoke: (channel: string, event: unknown, ...args: unknown[]) => handlers.get(channel)!(event, ...args),
    send: (channel: string, event: unknown, ...args: unknown[]) => listeners.get(channel)!(event, ...args),
  };
}

function window(id: number) {
  const sent: [string, unknown][] = [];
  return { id, sent, send: (channel: string, payload: unknown) => void sent.push([channel, payload]) };
}
const from = (w: { id: number; send: (c: string, p: unknown) => void }, url = `${APP_ORIGIN}/index.html`) => ({ sender: w, senderFrame: { url } });

describe("IPC registrar", () => {
  const home = mkdtempSync(join(tmpdir(), "whetstone-ipc-"));
  const engine = new Engine({ home });
  afterAll(() => engine.close());

  const setup = () => {
    const ipc = fakeIpc();
    const win = window(1);
    const wins = [win];
    registerEngineIpc(createRegistrar(ipc.ipcMain as never, () => wins), engine, () => wins);
    return { ipc, win, wins };
  };

  it("answers the app's own window through the engine's dispatch", async () => {
    const { ipc, win } = setup();
    const r = (await ipc.invoke(CHANNELS.call, from(win), "health", {})) as { ok: boolean; result: { home: string } };
    expect(r.ok).toBe(true);
    expect(r.result.home).toBe(home);
  });

  it("refuses other windows, other origins and frames without a URL", async () => {
    const { ipc, win } = setup();
    await expect(ipc.invoke(CHANNELS.call, from(window(2)), "health", {})).rejects.toThrow(/untrusted sender/);
    await expect(ipc.invoke(CHANNELS.call, from(win, "https://evil.example/"), "health", {})).rejects.toThrow(/untrusted sender/);
    await expect(ipc.invoke(CHANNELS.call, from(win, "app://whetstone.evil/x"), "health", {})).rejects.toThrow(/untrusted sender/);
    await expect(ipc.invoke(CHANNELS.call, { sender: win, senderFrame: null }, "health", {})).rejects.toThrow(/untrusted sender/);
  });

  it("validates the payload: unknown methods, extra arguments, bad inputs", async () => {
    const { ipc, win } = setup();
    await expect(ipc.invoke(CHANNELS.call, from(win), "rm -rf", {})).rejects.toThrow(/bad payload/);
    await expect(ipc.invoke(CHANNELS.call, from(win), "health", {}, "extra")).rejects.toThrow(/bad payload/);
    const r = (await ipc.invoke(CHANNELS.call, from(win), "getRun", { id: 42 })) as { ok: boolean; error: { code: string } };
    expect(r.ok).toBe(false);
    expect(r.error.code).toMatch(/^API_/);
  });

  it("applies the loopback server's path checks: run ids only, no system folders", async () => {
    const { ipc, win } = setup();
    const traversal = (await ipc.invoke(CHANNELS.call, from(win), "getRun", { id: "../../../other/runs/X" })) as { ok: boolean; error: { code: string; message: string } };
    expect(traversal).toMatchObject({ ok: false, error: { code: "RUN_ID_INVALID", message: expect.stringContaining("getRun: id: '../../../other/runs/X' is not a run id or name") } });
    const etc = (await ipc.invoke(CHANNELS.call, from(win), "inspectDataset", { path: "/etc" })) as { ok: boolean; error: { code: string } };
    expect(etc).toMatchObject({ ok: false, error: { code: "API_SYSTEM_PATH" } });
  });

  it("queues engine events until the window says it is ready, and ignores untrusted ready messages", () => {
    const { ipc, win } = setup();
    const event: EngineEvent = { type: "log", runId: "r1", line: "hello" };
    engine.events.emit("event", event);
    expect(win.sent).toEqual([]);
    ipc.send(CHANNELS.ready, from(win, "https://evil.example/"));
    expect(win.sent).toEqual([]);
    ipc.send(CHANNELS.ready, from(win));
    expect(win.sent).toEqual([[CHANNELS.event, event]]);
    engine.events.emit("event", event);
    expect(win.sent).toHaveLength(2);
  });
});

describe("first launch", () => {
  it("maps the setup script's lines to progress stages, never backwards", () => {
    let f = 0;
    f = stageFraction("[whetstone setup] Python environment: creating /x/.venv with python3", f);
    expect(f).toBe(0.1);
    f = stageFraction("[whetstone setup] Python environment: installing torch (cpu build)… [1/2]", f);
    expect(f).toBe(0.2);
    f = stageFraction("Collecting numpy", f);
    expect(f).toBe(0.2);
    f = stageFraction("[whetstone setup] Python environment: installing the worker's pinned requirements… [2/2]", f);
    expect(f).toBe(0.7);
    expect(stageFraction("[whetstone setup] done in 93s.", f)).toBe(1);
  });

  // Node's own fork stands in for Electron's utilityProcess.fork (same stdout/stderr/exit shape; no Electron binary here).
  const nodeFork: ForkSetup = (script, env) => fork(script, [], { env, silent: true });

  it("runs the setup script in a Node child process (no shell, no ELECTRON_RUN_AS_NODE) and reports its lines, success and failure", async () => {
    const dir = mkdtempSync(join(tmpdir(), "whetstone-setup-"));
    const ok = join(dir, "ok.mjs");
    writeFileSync(ok, `console.log("[whetstone setup] Python environment: installing torch (cpu)… [1/2]");\nconsole.log("run as node: " + (process.env.ELECTRON_RUN_AS_NODE ?? "unset"));\nprocess.stdout.write("[whetstone setup] done in 1s.");\n`);
    const events: SetupEvent[] = [];
    expect(await runSetup(ok, (e) => events.push(e), nodeFork, setupEnv(appLayout({ projectRoot: "/src/whetstone" }), { ...process.env, ELECTRON_RUN_AS_NODE: "1" }))).toBe(true);
    expect(events.map((e) => e.line)).toEqual([expect.stringContaining("installing torch"), "run as node: unset", "[whetstone setup] done in 1s.", "The Python environment is ready."]);
    expect(events.map((e) => e.fraction)).toEqual([0.2, 0.2, 1, 1]);
    expect(events.at(-1)!.state).toBe("done");

    const bad = join(dir, "bad; echo pwned.mjs");
    writeFileSync(bad, `console.error("no python"); process.exit(3);\n`);
    const failed: SetupEvent[] = [];
    expect(await runSetup(bad, (e) => failed.push(e), nodeFork, process.env)).toBe(false);
    expect(failed.map((e) => e.line)).toEqual(["no python", expect.stringMatching(/Setup failed \(exit 3\)/)]);

    const cannot: SetupEvent[] = [];
    const refuse: ForkSetup = () => {
      throw new Error("utility process refused");
    };
    expect(await runSetup(ok, (e) => cannot.push(e), refuse, process.env)).toBe(false);
    expect(cannot).toEqual([{ state: "failed", line: "Could not start the setup: utility process refused", fraction: 0 }]);
  });
});
