/** inspectDataset through the engine API: verdicts, stats with the model's tokenizer, progress events. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import type { EngineEvent } from "../../../engine/api/events";
import { PROJECT_ROOT } from "../../../engine/paths";
import { ensureTinyModel, tempHome, TINY_DATA } from "../../helpers/fixture";

const VALID = join(PROJECT_ROOT, "tests", "fixtures", "datasets", "valid");
const MALFORMED = join(PROJECT_ROOT, "tests", "fixtures", "datasets", "malformed");
const dir = mkdtempSync(join(tmpdir(), "whetstone-inspect-"));
let engine: Engine;
let model: string;

beforeAll(() => {
  model = ensureTinyModel();
  engine = new Engine({ home: tempHome() });
});

describe("inspectDataset", () => {
  it("reports format, schema, stats with the model's tokenizer, and preview handles; emits progress", async () => {
    const events: EngineEvent[] = [];
    engine.events.on("event", (e) => events.push(e));
    const r = await engine.call("inspectDataset", { path: TINY_DATA, model, maxLength: 64, method: "sft", tokensPerSecond: 1000 });
    expect(r).toMatchObject({ format: "jsonl", schema: "chat", kind: "chat", errors: 0, trainable: true });
    expect(r.verdict).toBe("ready to train: 111 samples (104 within max_length, 4,089 tokens per epoch), 7 warnings");
    expect(r.stats).toMatchObject({ rows: 111, samples: 111, roles: { system: 18, user: 123, assistant: 123, tool: 0 }, turns: { min: 2, max: 6 } });
    // The worker's own counts for this file at max_length 64 (see the cross-language test).
    expect(r.stats.tokens).toMatchObject({ template_source: "chat_template.jinja", kept: 104, dropped_too_long: 7, over_max_length: 7, tokens_per_epoch: 4089, trained_tokens_per_epoch: 1798, estimated_seconds_per_epoch: 4.09 });
    expect(r.stats.tokens!.histogram.reduce((a, b) => a + b.count, 0)).toBe(111);
    expect(r.summary).toMatchObject([{ code: "DATA_TOO_LONG", count: 7, severity: "warning" }]);
    expect(r.preview.handles[0]).toEqual({ index: 0, file: TINY_DATA, line: 1, row: 1 });
    expect(events.some((e) => e.type === "dataset" && e.path === TINY_DATA && e.progress.current === e.progress.total)).toBe(true);
  });

  it("says when errors block training, and that --skip-invalid would train on the rest", async () => {
    const file = join(MALFORMED, "unknown-role.jsonl");
    const r = await engine.inspectDataset({ path: file });
    expect(r.trainable).toBe(false);
    expect(r.verdict).toBe("not trainable: 2 errors in 2 rows; --skip-invalid would train on the other 1 sample");
    expect(r.summary[0]).toMatchObject({ code: "DATA_UNKNOWN_ROLE", count: 2, message: "role 'hummany' is not a known role: 2 rows, first at line 2 (messages[0].role); did you mean 'human' (user)?", hint: expect.stringContaining("--roles hummany=user") });
    expect((await engine.inspectDataset({ path: file, skipInvalid: true })).verdict).toBe("trainable with --skip-invalid: 1 sample; 2 invalid rows will be skipped");
    expect((await engine.inspectDataset({ path: file, roles: { hummany: "user" } })).trainable).toBe(true);
  });

  it("refuses preference pairs and plain text for SFT, and a file-level error even with skipInvalid", async () => {
    for (const f of ["preference.jsonl", "text.jsonl"]) {
      const r = await engine.inspectDataset({ path: join(VALID, f), method: "sft", skipInvalid: true });
      expect(r.trainable).toBe(false);
      expect(r.summary[0]!.code).toBe("DATA_METHOD_MISMATCH");
    }
    const trunc = await engine.inspectDataset({ path: join(MALFORMED, "json-trailing-comma.json"), skipInvalid: true });
    expect(trunc).toMatchObject({ trainable: false, verdict: "not trainable: 1 error" });
  });

  it("fails before training when nothing survives max_length", async () => {
    const r = await engine.inspectDataset({ path: TINY_DATA, model, maxLength: 16 });
    expect(r.trainable).toBe(false);
    expect(r.summary[0]).toMatchObject({ code: "DATA_EMPTY", message: expect.stringContaining("all 111 valid samples are dropped") });
  });

  it("counts exact and near duplicates", async () => {
    const file = join(dir, "dups.jsonl");
    const row = (u: string) => JSON.stringify({ messages: [{ role: "user", content: u }, { role: "assistant", content: "ok" }] });
    writeFileSync(file, [row("Hello there"), row("Hello there"), row("hello, there!"), row("Other")].join("\n"));
    const r = await engine.inspectDataset({ path: file });
    expect(r.stats).toMatchObject({ duplicates: 1, near_duplicates: 1, samples: 4 });
    expect(r.trainable).toBe(true);
  });

  it("previews a sample by index, and says which indexes exist", async () => {
    const p = await engine.previewDataset({ path: join(VALID, "alpaca.csv"), model, index: 2, goldfish: { variant: "static", k: 2 } });
    expect(p).toMatchObject({ index: 2, line: 4, row: 3, schema: "alpaca", dropped: null, goldfish: { variant: "static", k: 2 } });
    const text = p.tokens.map((t) => t.text).join("");
    expect(text).toBe("<|im_start|>user\nTranslate to English.\n\nchat<|im_end|>\n<|im_start|>assistant\ncat<|im_end|>\n");
    expect(p.tokens.filter((t) => t.trained).map((t) => t.text).join("")).toBe("cat<|im_end|>\n");
    expect(p.tokens.every((t, i) => t.dropped === (t.trained && i % 2 === 0))).toBe(true);
    await expect(engine.previewDataset({ path: join(VALID, "alpaca.csv"), model, index: 3 })).rejects.toMatchObject({ code: "DATA_INDEX", hint: "Use --index from 0 to 2." });
  });
});
