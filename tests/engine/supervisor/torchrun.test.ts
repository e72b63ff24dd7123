/**
 * Which rank ended a run on several devices, from torchrun's stderr (engine/supervisor/torchrun.ts).
 * The lines are torch 2.13's, recorded from runs whose rank 1 was killed with kill -9
 * (tests/engine/distributed/kill-rank.test.ts runs that for real): torchrun's, whose ranks are fresh
 * interpreters, and its agent's as whetstone_worker/launch.py runs it, with ranks forked from the launcher.
 */
import { describe, expect, it } from "vitest";
import { RankFailures } from "../../../engine/supervisor/torchrun";

const stopping = (pid: number) => `W1203 06:44:01.125000 30620 torch/distributed/elastic/multiprocessing/api.py:1028] Sending process ${pid} closing signal SIGTERM`;
const first = (code: number, rank: number, pid: number) => `E1203 06:44:01.193000 30620 torch/distributed/elastic/multiprocessing/api.py:1002] failed (exitcode: ${code}) local_rank: ${rank} (pid: ${pid}) of binary: /venv/bin/python`;
const entry = (index: number, rank: number, code: number, pid: number) => [
  `[${index}]:`,
  "  time      : 2026-12-03_06:44:01",
  "  host      : localhost",
  `  rank      : ${rank} (local_rank: ${rank})`,
  `  exitcode  : ${code} (pid: ${pid})${code === -9 ? "  (SIGKILL)" : ""}`,
  "  error_file: <N/A>",
  `  traceback : ${code === -9 ? `Signal 9 (SIGKILL) received by PID ${pid}` : "To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html"}`,
];
/** The agent's lines when its ranks are forks (a function entrypoint, start method fork). */
const terminating = (pid: number) => `W1203 12:34:39.278000 29547 torch/multiprocessing/spawn.py:165] Terminating process ${pid} via signal SIGTERM`;
const closing = (pid: number) => `W1203 12:34:39.290000 29547 torch/distributed/elastic/multiprocessing/api.py:872] Closing process ${pid} via signal SIGTERM`;
const firstForked = (code: number, rank: number, pid: number) => `E1203 12:34:39.303000 29547 torch/distributed/elastic/multiprocessing/api.py:836] failed (exitcode: ${code}) local_rank: ${rank} (pid: ${pid}) of fn: _rank (start_method: fork)`;
const summary = (failures: string[][], root: string[]) => ["whetstone_worker FAILED", "Failures:", ...failures.flat(), "Root Cause (first observed failure):", ...root];
const peerLost = { message: "unexpected: RuntimeError: [gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:13967: Connection reset by peer." };

function parse(lines: string[]): RankFailures {
  const f = new RankFailures();
  for (const l of lines) f.feed(l);
  return f;
}

describe("the rank that ended the run", () => {
  it("rank 1 killed: torchrun stopped rank 0, which failed on the lost peer", () => {
    const f = parse([stopping(30624), first(-9, 1, 30625), ...summary([entry(1, 0, 1, 30624)], entry(0, 1, -9, 30625))]);
    expect(f.culprit(peerLost)).toEqual({ rank: 1, pid: 30625, code: null, signal: "SIGKILL" });
    expect(f.culprit(undefined)).toEqual({ rank: 1, pid: 30625, code: null, signal: "SIGKILL" });
  });

  it("both gone before torchrun looked: its root cause (a tie, to the second) names rank 0, the signal names rank 1", () => {
    const f = parse([first(1, 0, 30624), ...summary([entry(1, 1, -9, 30625)], entry(0, 0, 1, 30624))]);
    expect(f.culprit(peerLost)).toMatchObject({ rank: 1, signal: "SIGKILL" });
  });

  it("rank 0's own error, with the other rank stopped by torchrun: rank 0's error stands", () => {
    const f = parse([stopping(30625), first(1, 0, 30624), ...summary([entry(1, 1, -15, 30625)], entry(0, 0, 1, 30624))]);
    expect(f.culprit({ message: "CUDA out of memory in backward" })).toBeNull();
    expect(f.culprit(undefined)).toMatchObject({ rank: 0, code: 1, signal: null }); // rank 0 died without a word
  });

  it("rank 1 raised (exit 1) and rank 0 lost it: rank 1", () => {
    const f = parse([first(1, 1, 30625), ...summary([entry(1, 0, 1, 30624)], entry(0, 1, 1, 30625))]);
    expect(f.culprit(peerLost)).toMatchObject({ rank: 1, code: 1, signal: null });
  });

  it("forked ranks: rank 1 killed, the agent terminated rank 0, which failed on the lost peer: rank 1", () => {
    const f = parse([terminating(29605), firstForked(-9, 1, 29606), ...summary([], entry(0, 1, -9, 29606))]);
    expect(f.culprit(peerLost)).toEqual({ rank: 1, pid: 29606, code: null, signal: "SIGKILL" });
    expect(f.culprit(undefined)).toEqual({ rank: 1, pid: 29606, code: null, signal: "SIGKILL" });
  });

  it("forked ranks: rank 0 failed on the lost peer at the moment rank 1 was killed: the launcher names rank 1 too, and rank 1 it is", () => {
    // torch's join raised for rank 0 alone (the root cause below); launch.py's report names the other failed rank.
    const f = parse(["failed (exitcode: -9) local_rank: 1 (pid: 4547)", firstForked(1, 0, 4546), ...summary([], entry(0, 0, 1, 4546))]);
    expect(f.culprit(peerLost)).toEqual({ rank: 1, pid: 4547, code: null, signal: "SIGKILL" });
  });

  it("forked ranks: rank 0's own error, the other rank stopped by the agent (either of its wordings): rank 0's error stands", () => {
    for (const stopped of [terminating, closing]) {
      const f = parse([stopped(29606), firstForked(1, 0, 29605), firstForked(-15, 1, 29606), ...summary([], entry(0, 0, 1, 29605))]);
      expect(f.culprit({ message: "CUDA out of memory in backward" })).toBeNull();
      expect(f.culprit(undefined)).toMatchObject({ rank: 0, code: 1, signal: null });
    }
  });

  it("no failure reported: nothing to say", () => {
    expect(parse(["[info] worker ready"]).culprit(peerLost)).toBeNull();
  });
});
