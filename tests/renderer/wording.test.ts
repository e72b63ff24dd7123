/** The app's one-line verdicts and labels: the data step's, the audit's, why an action waits, axis labels. */
import { describe, expect, it } from "vitest";
import { auditVerdict, needsCompletedRun } from "../../renderer/src/lib/run-gates";
import { dataVerdict } from "../../renderer/src/lib/messages";
import { axisNum } from "../../renderer/src/lib/format";
import { validationSplitFor } from "../../renderer/src/lib/suggest";
import type { AuditReport } from "../../engine/audit/schema";

const audit = (base: number, tuned: number, lcs: [number, number] = [0.1, 0.12]) =>
  ({ counts: { used: 50 }, base: { exact_match_rate: base / 50, exact_matches: base, lcs_ratio_mean: lcs[0], semantic_similarity_mean: null }, tuned: { exact_match_rate: tuned / 50, exact_matches: tuned, lcs_ratio_mean: lcs[1], semantic_similarity_mean: null } }) as unknown as AuditReport;

describe("verdict lines", () => {
  it("the audit says how many answers each model reproduces, and what to do", () => {
    expect(auditVerdict(audit(0, 3))).toMatchObject({ level: "warn", text: "The tuned model reproduces 3 of 50 training answers verbatim; the base model 0.", advice: expect.stringMatching(/goldfish loss/) });
    expect(auditVerdict(audit(0, 0))).toMatchObject({ level: "ok", advice: expect.stringMatching(/No sign of memorization/) });
    expect(auditVerdict(audit(0, 0, [0.1, 0.5]))).toMatchObject({ level: "warn", advice: expect.stringMatching(/40 points more token overlap/) });
  });

  it("a disabled action says why", () => {
    expect(needsCompletedRun("completed", "Export")).toBeNull();
    expect(needsCompletedRun("cancelled", "Export")).toMatch(/Export needs a completed run; this one is cancelled\. Resume it/);
    expect(needsCompletedRun("running", "The audit")).toMatch(/once training completes/);
  });

  it("the data verdict speaks of skipping rows in words, not flags", () => {
    const stats = { samples: 2, invalid_rows: 1, tokens: null } as never;
    expect(dataVerdict({ trainable: false, errors: 1, warnings: 0, stats, kind: "chat", skip_invalid: false })).toBe("Not trainable yet: 1 error in 1 row. Fix them, or skip them below and train on the other 2 samples.");
    expect(dataVerdict({ trainable: true, errors: 1, warnings: 0, stats, kind: "preference", skip_invalid: true })).toBe("Ready to train on 2 pairs; 1 invalid row will be skipped.");
  });
});

describe("labels and defaults", () => {
  it("axis labels keep their leading digit and the decimals the range needs", () => {
    expect(axisNum(0.002511, 0.0004)).toBe("0.00251");
    expect(axisNum(2.5, 5)).toBe("2.5");
    expect(axisNum(0, 5)).toBe("0.0");
    expect(axisNum(12345, 10000)).toBe("12.3k");
  });

  it("validation split: 5%, at least 20 rows, none for small data", () => {
    expect(validationSplitFor(111)).toBe(0);
    expect(validationSplitFor(250)).toBe(0.08);
    expect(validationSplitFor(10_000)).toBe(0.05);
  });
});
