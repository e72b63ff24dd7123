import { describe, expect, it } from "vitest";
import { diagnoseDeath } from "../../../engine/supervisor/diagnose";
import type { Metrics } from "../../../engine/protocol/messages";

const metrics = { v: 1, type: "metrics", id: "j", step: 12, total_steps: 40, epoch: 0.3, loss: 2, lr: 1e-3, grad_norm: 1, tokens: 100, tokens_per_s: 10, elapsed_s: 5, eta_s: 12 } as Metrics;

describe("diagnoseDeath", () => {
  it("says SIGKILL is most likely the out-of-memory killer, where the run was, and how to resume", () => {
    const d = diagnoseDeath({ code: null, signal: "SIGKILL", stderrTail: ["step 12"] }, { runId: "r1", phase: "train", metrics, checkpointStep: 10 });
    expect(d.code).toBe("WORKER_KILLED");
    expect(d.message).toContain("at step 12/40");
    expect(d.message).toContain("out-of-memory killer");
    expect(d.hint).toContain("whetstone resume r1");
    expect(d.hint).toContain("checkpoint at step 10");
    expect(d.hint).toContain("micro_batch_size");
    expect(d.recoverable).toBe(true);
    expect(d.details).toEqual(["stderr: step 12"]);
  });

  it("reads 137 from a shell as SIGKILL and 139 as a native crash", () => {
    expect(diagnoseDeath({ code: 137, signal: null, stderrTail: [] }, { runId: "r", phase: null }).code).toBe("WORKER_KILLED");
    const segv = diagnoseDeath({ code: 139, signal: null, stderrTail: [] }, { runId: "r", phase: "load" });
    expect(segv.code).toBe("WORKER_CRASHED");
    expect(segv.message).toContain("during load");
    expect(segv.hint).toContain("no checkpoint");
  });

  it("quotes the last exception line of a plain non-zero exit", () => {
    const d = diagnoseDeath({ code: 1, signal: null, stderrTail: ["Traceback (most recent call last):", '  File "x.py"', "RuntimeError: bad things"] }, { runId: "r", phase: "train", metrics });
    expect(d.code).toBe("WORKER_EXITED");
    expect(d.message).toContain("code 1");
    expect(d.message).toContain("RuntimeError: bad things");
  });
});
