/**
 * The one worker session against workers that behave and workers that do not: the real worker's
 * cancel paths are covered where they matter (training, export, audit tests); here a scripted
 * stand-in checks the supervisor's side of the contract: which events reach the caller, and the
 * cancel ladder (protocol `cancel`, then SIGTERM after the grace period, then SIGKILL).
 */
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { WorkerSession } from "../../../engine/supervisor/session";
import { HANG_MS } from "../../helpers/limits";
import { PROTOCOL_VERSION, type WorkerEvent } from "../../../engine/protocol/messages";

const dir = mkdtempSync(join(tmpdir(), "ws-session-"));

/** A stand-in worker: says hello, then runs `behaviour` (Python) on each command line. */
function fakeWorker(name: string, behaviour: string): string {
  const script = join(dir, `${name}.py`);
  writeFileSync(
    script,
    `import json, os, signal, sys, time
def emit(**e):
    sys.stdout.write(json.dumps({"v": 1, **e}) + "\\n"); sys.stdout.flush()
emit(type="hello", protocol=${PROTOCOL_VERSION}, worker_version="fake", pid=os.getpid(), python="3", packages={},
     device={"kind": "cpu", "name": "fake", "count": 0, "memory_bytes": None, "bf16": False, "capability": None})
for line in sys.stdin:
    cmd = json.loads(line)
${behaviour.replace(/^/gm, "    ")}
`,
  );
  const launcher = join(dir, name);
  writeFileSync(launcher, `#!/bin/sh\nexec python3 -u ${script}\n`);
  chmodSync(launcher, 0o755);
  return launcher;
}

const command = (id: string) => ({ v: 1 as const, type: "pull" as const, id, repo_id: "a/b", repo_type: "model" as const, revision: null, endpoint: null, cache_dir: null });

describe("WorkerSession", () => {
  it("passes on its command's events, the worker's logs and id-less errors; drops other commands' events", async () => {
    const python = fakeWorker(
      "chatty",
      `if cmd["type"] == "pull":
    emit(type="progress", id="other", phase="x", current=0, total=None, unit="", elapsed_s=0, eta_s=None, message="not mine")
    emit(type="progress", id=cmd["id"], phase="download", current=1, total=2, unit="files", elapsed_s=0, eta_s=None, message="mine")
    emit(type="log", id=None, level="info", message="from the worker")
    emit(type="done", id=cmd["id"], status="completed", result={"ok": True})
elif cmd["type"] == "shutdown":
    break`,
    );
    const seen: WorkerEvent[] = [];
    const outcome = await WorkerSession.run({ python, id: "job-1", command, cancelGraceMs: 1000, onEvent: (e) => seen.push(e) });
    expect(outcome.done).toEqual({ status: "completed", result: { ok: true } });
    expect(seen.map((e) => e.type)).toEqual(["progress", "log", "done"]);
    expect(outcome.lastProgress?.message).toBe("mine");
    expect(outcome.exit.code).toBe(0);
    expect(outcome.cancelRequested).toBe(false);
  });

  it("a worker that honours `cancel` ends with done cancelled and no signal", async () => {
    const python = fakeWorker(
      "polite",
      `if cmd["type"] == "cancel":
    emit(type="done", id=cmd["target"], status="cancelled", result={})
elif cmd["type"] == "shutdown":
    break`,
    );
    const controller = new AbortController();
    const running = WorkerSession.run({ python, id: "job-2", command, cancelGraceMs: 10_000, signal: controller.signal, onHello: () => setTimeout(() => controller.abort(), 50) });
    const outcome = await running;
    expect(outcome.done?.status).toBe("cancelled");
    expect(outcome.cancelRequested).toBe(true);
    expect(outcome.exit.signal).toBeNull();
  });

  it("a worker that ignores `cancel` is terminated after the grace period, and killed when it ignores SIGTERM too", async () => {
    const python = fakeWorker(
      "stubborn",
      `signal.signal(signal.SIGTERM, signal.SIG_IGN)
if cmd["type"] == "pull":
    while True: time.sleep(1)`,
    );
    const lines: string[] = [];
    const t0 = Date.now();
    const session = await WorkerSession.start({ python, id: "job-3", command, cancelGraceMs: 300, onOutput: (l) => lines.push(l) });
    setTimeout(() => session.cancel(), 100);
    const outcome = await session.run();
    const took = Date.now() - t0;
    expect(outcome.done).toBeUndefined();
    expect(outcome.exit.signal).toBe("SIGKILL");
    expect(lines).toContain("The worker did not stop in time after cancel; terminating it.");
    expect(took).toBeGreaterThanOrEqual(5300); // grace, then five seconds for SIGTERM
  }, HANG_MS);

  it("an aborted signal before the command is sent still cancels it", async () => {
    const python = fakeWorker(
      "late",
      `if cmd["type"] == "cancel":
    emit(type="done", id=cmd["target"], status="cancelled", result={})
elif cmd["type"] == "shutdown":
    break`,
    );
    const controller = new AbortController();
    controller.abort();
    const outcome = await WorkerSession.run({ python, id: "job-4", command, cancelGraceMs: 10_000, signal: controller.signal });
    expect(outcome.done?.status).toBe("cancelled");
  });

  it("a command builder that throws ends the session with its error and stops the worker", async () => {
    const python = fakeWorker("idle", `if cmd["type"] == "shutdown":
    break`);
    let pid: number | undefined;
    const failing = WorkerSession.run({
      python,
      id: "job-5",
      command: () => {
        throw new Error("No base model at /gone");
      },
      cancelGraceMs: 10_000,
      onHello: (hello) => (pid = hello.pid),
    });
    await expect(failing).rejects.toThrow("No base model at /gone");
    expect(pid).toBeGreaterThan(0);
    expect(() => process.kill(pid!, 0)).toThrow(); // exited, not left idle holding the device
  });
});
