/**
 * grpo's judge reward is the evaluation's judge: the worker's judge.py renders the engine's prompt
 * (tests/fixtures/judge/prompt-v1.json, checked by both suites) and, on the tiny judge, reads the same
 * verdict probabilities as the engine's OnnxJudge (run here side by side, within 1e-5). A run's judge
 * folder is resolved when the run is created and stored in its config.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { OnnxJudge, SPELLINGS, onnxFile } from "../../../engine/judge/onnx-judge";
import { CRITERIA, MAX_RESPONSE_CHARS, VERDICTS, judgeMessages } from "../../../engine/judge/prompt";
import { WORKER_DIR } from "../../../engine/paths";
import { tempHome, tinyConfig } from "../../helpers/fixture";
import { ensureTinyJudge } from "../eval/tiny-judge";
import { workerPythonOutput } from "../../helpers/python";

const FIXTURE = JSON.parse(readFileSync(join(__dirname, "../../fixtures/judge/prompt-v1.json"), "utf8")) as {
  criteria: string[];
  verdicts: string[];
  spellings: Record<string, string[]>;
  max_response_chars: number;
  cases: { instruction: string; first: string; second: string; messages: unknown }[];
};
let judge: string;

beforeAll(() => {
  judge = ensureTinyJudge();
});

const PY = `
import json, sys
from whetstone_worker.judge import OnnxJudge, judge_messages
j = OnnxJudge(sys.argv[1])
cases = json.loads(sys.argv[2])
print(json.dumps([[j.order(judge_messages(*c)), j.order(judge_messages(c[0], c[2], c[1])), j.prefer(*c)] for c in cases]))
`;

describe("the judge reward", () => {
  it("uses the engine's prompt and verdict spellings", () => {
    expect([...CRITERIA]).toEqual(FIXTURE.criteria);
    expect([...VERDICTS]).toEqual(FIXTURE.verdicts);
    expect(SPELLINGS).toEqual(FIXTURE.spellings);
    expect(MAX_RESPONSE_CHARS).toBe(FIXTURE.max_response_chars);
    for (const c of FIXTURE.cases) expect(judgeMessages(c.instruction, c.first, c.second)).toEqual(c.messages);
  });

  it("reads the same verdict probabilities in the worker as the engine's judge", async () => {
    const cases: [string, string, string][] = [
      ["Name the capital of France.", "Paris.", "The capital of France is Paris."],
      ["Write one word about rain.", "Pitter-patter", ""],
      ["Ünïcödé and emoji 😀?", "Ja — 😀", "no"],
    ];
    const engineJudge = await OnnxJudge.load(judge, onnxFile(judge)!);
    try {
      const worker = JSON.parse(await workerPythonOutput(["-c", PY, judge, JSON.stringify(cases)])) as [Record<string, number>, Record<string, number>, number][];
      for (const [i, [instruction, answer, reference]] of cases.entries()) {
        const first = await engineJudge.judge(judgeMessages(instruction, answer, reference));
        const second = await engineJudge.judge(judgeMessages(instruction, reference, answer));
        const [wFirst, wSecond, wPref] = worker[i]!;
        for (const k of ["first", "second", "tie"] as const) {
          expect(wFirst[k]).toBeCloseTo(first[k], 5);
          expect(wSecond[k]).toBeCloseTo(second[k], 5);
        }
        const win = (first.first + second.second) / 2;
        const tie = (first.tie + second.tie) / 2;
        expect(wPref).toBeCloseTo(win + 0.5 * tie, 5);
      }
    } finally {
      await engineJudge.dispose();
    }
  });

  it("stores the judge folder a run resolves, and refuses a judge server or a folder that is not a judge", async () => {
    const engine = new Engine({ home: tempHome() });
    const grpo = (reward: Record<string, unknown>) => ({
      ...tinyConfig({ training: { max_steps: 1, micro_batch_size: 2, packing: false, neftune_alpha: 0 } }),
      method: "grpo",
      preference: { num_generations: 2, max_completion_tokens: 4 },
      rewards: [reward],
    });
    const run = await engine.call("createRun", { config: grpo({ type: "judge", judge }), preflight: "never" });
    expect((engine.getRun({ id: run.id }).config as { rewards: unknown[] }).rewards).toEqual([{ type: "judge", field: "reference", judge, weight: 1 }]);
    await engine.call("cancelRun", { id: run.id });
    await expect(engine.call("createRun", { config: grpo({ type: "judge", judge: "http://127.0.0.1:9/v1" }), preflight: "never" })).rejects.toMatchObject({ code: "CONFIG_INVALID", message: expect.stringContaining("rewards[0].judge") });
    await expect(engine.call("createRun", { config: grpo({ type: "judge", judge: WORKER_DIR }), preflight: "never" })).rejects.toMatchObject({ code: "JUDGE_NOT_FOUND" });
  });
});
