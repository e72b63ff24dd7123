/** `whetstone data check|preview` and `whetstone train --skip-invalid`, as a user runs them (non-TTY). */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../../engine/paths";
import { ensureTinyModel, tempHome, TINY_MODEL } from "../../helpers/fixture";
import { HANG_MS } from "../../helpers/limits";

const BIN = join(PROJECT_ROOT, "bin", "whetstone.mjs");
const DATASETS = join(PROJECT_ROOT, "tests", "fixtures", "datasets");
const home = tempHome();

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, WHETSTONE_HOME: home }, encoding: "utf8", timeout: HANG_MS });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  ensureTinyModel();
});

describe("whetstone data", () => {
  it("check: every problem with its place and fix, exit 1 on errors, 0 with --skip-invalid", () => {
    const file = join(DATASETS, "malformed", "unknown-role.jsonl");
    const r = cli(["data", "check", file]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("error[DATA_UNKNOWN_ROLE] role 'hummany' is not a known role: 2 rows, first at line 2 (messages[0].role); did you mean 'human' (user)?");
    expect(r.out).toContain(`  ${file}:3 (messages[0].role): messages[0].role is 'hummany'`);
    expect(r.out).toContain("hint: Map it: data.roles: {\"hummany\": user} (CLI: --roles hummany=user).");
    expect(r.out).toMatch(/✗ not trainable: 2 errors in 2 rows/);
    expect(cli(["data", "check", file, "--skip-invalid"]).code).toBe(0);
    expect(cli(["data", "check", file, "--roles", "hummany=user"]).code).toBe(0);
  });

  it("check --json and token statistics with --model", () => {
    const r = cli(["data", "check", join(DATASETS, "valid", "alpaca.csv"), "--model", TINY_MODEL, "--json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({ format: "csv", schema: "alpaca", trainable: true, stats: { samples: 3, tokens: { kept: 3 } } });
  });

  it("preview: the rendered sample with trained tokens in [[…]] and goldfish drops in {{…}}, settings from --config", () => {
    const r = cli(["data", "preview", "--config", join(PROJECT_ROOT, "examples", "tiny-sft.yaml"), "--index", "5", "--goldfish", "static"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain("tiny-chat.jsonl:6 (index 5) · chat");
    expect(r.out).toMatch(/template chat_template\.jinja · \d+ tokens, \d+ trained, \d+ dropped by goldfish \(static, k 4\)/);
    expect(r.out).toContain("<|im_start|>user↵\nName a prime number.<|im_end|>↵\n<|im_start|>assistant↵\n[[");
    expect(r.out).toMatch(/\{\{[^}]+\}\}/);
    expect(r.out).toContain("legend: [[trained]]  {{dropped by goldfish}}");
  });

  it("check preference pairs: --config of a DPO run measures both sides; without a method the report names the methods", () => {
    const r = cli(["data", "check", "--config", join(PROJECT_ROOT, "examples", "tiny-dpo.yaml"), "--json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({ kind: "preference", methods: ["dpo", "simpo", "orpo"], trainable: true, stats: { samples: 48, tokens: { samples: 48, sequences: 96, kept: 48, dropped_too_long: 0 } } });
    expect(report.stats.tokens.pair_sides.chosen_trained_tokens).toBeGreaterThan(report.stats.tokens.pair_sides.rejected_trained_tokens);
    const pairs = join(PROJECT_ROOT, "examples", "data", "tiny-pairs.jsonl");
    const plain = cli(["data", "check", pairs]);
    expect(plain.code).toBe(0);
    expect(plain.out).toContain("note: preference pairs: trainable with dpo, simpo, orpo");
    expect(plain.out).toContain("✓ ready to train: 48 pairs");
    expect(cli(["data", "check", pairs, "--method", "orpo", "--model", TINY_MODEL]).code).toBe(0);
    const sft = cli(["data", "check", pairs, "--method", "sft"]);
    expect(sft.code).toBe(1);
    expect(sft.out).toContain("error[DATA_METHOD_MISMATCH]");
    expect(sft.out).toContain("This data trains with dpo, simpo, orpo");
    expect(cli(["data", "check", pairs, "--method", "ppo"])).toMatchObject({ code: 2, err: expect.stringContaining("--method must be one of sft, dpo, simpo, orpo, kto") });
  });

  it("usage errors exit 2", () => {
    expect(cli(["data", "preview", join(DATASETS, "valid", "chat.jsonl")])).toMatchObject({ code: 2, err: expect.stringContaining("needs --model DIR") });
    expect(cli(["data", "check", join(DATASETS, "valid", "chat.jsonl"), "--format", "xml"])).toMatchObject({ code: 2, err: expect.stringContaining("--format must be one of jsonl, json, csv, tsv, parquet") });
    expect(cli(["data", "frobnicate", "x"]).code).toBe(2);
  });
});

describe("whetstone train on a CSV with a bad row", () => {
  // data.dedupe is an ingestion-only field: the worker (which rejects unknown fields) never sees it.
  it("refuses it, then trains with --skip-invalid and lists the skipped row in the run's data manifest", () => {
    const dir = mkdtempSync(join(tmpdir(), "whetstone-csv-train-"));
    const rows = Array.from({ length: 12 }, (_, i) => `"What is ${i} plus ${i}?","It is ${2 * i}."`);
    rows.splice(4, 0, `"No answer here",`);
    writeFileSync(join(dir, "qa.csv"), ["prompt,completion", ...rows].join("\n") + "\n");
    const cfg = join(dir, "run.yaml");
    writeFileSync(cfg, `model:\n  path: ${TINY_MODEL}\ndata:\n  train: qa.csv\n  max_length: 64\n  dedupe: true\nlora: {r: 4, alpha: 8}\ntraining:\n  max_steps: 2\n  micro_batch_size: 4\n  checkpoint_every: 100\n`);
    const refused = cli(["train", cfg]);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain("error[DATA_INVALID]");
    expect(refused.err).toContain("line 6: completion: the assistant turn is empty [DATA_EMPTY_ASSISTANT]");
    expect(refused.err).toContain("To train on the 12 valid rows, set data.skip_invalid: true or pass --skip-invalid.");
    const r = cli(["train", cfg, "--skip-invalid"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/completed: \S+ at step 2\/2/);
    const runs = cli(["runs", "--json"]);
    const id = (JSON.parse(runs.out) as { id: string; state: string }[]).find((x) => x.state === "completed")!.id;
    const shown = JSON.parse(cli(["show", id, "--json"]).out);
    expect(shown.data).toMatchObject({ rows: 12, format: "csv", schema: "prompt_completion", skipped: { count: 1, rows: [{ line: 6, row: 5, code: "DATA_EMPTY_ASSISTANT" }] } });
  });
});
