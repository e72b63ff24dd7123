import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkChainable, type Parent } from "../../../engine/runs/lineage";

function adapter(useDora: boolean): Parent {
  const path = join(mkdtempSync(join(tmpdir(), "chain-")), "adapter");
  mkdirSync(path);
  writeFileSync(join(path, "adapter_config.json"), JSON.stringify({ peft_type: "LORA", r: 8, use_dora: useDora, use_rslora: false }));
  return { run: "20261202-sft", path, kind: "adapter" };
}

describe("chaining and DoRA", () => {
  it("refuses a LoRA run chained from a DoRA adapter, or a DoRA run chained from any adapter, saying what works", () => {
    expect(() => checkChainable(adapter(true), "lora", "lora")).toThrow(/20261202-sft trained a DoRA adapter/);
    const own = (() => {
      try {
        checkChainable(adapter(false), "lora", "dora");
      } catch (e) {
        return e as { code: string; hint: string };
      }
      return null;
    })();
    expect(own?.code).toBe("INIT_FROM_INVALID");
    expect(own?.hint).toMatch(/plain LoRA or rsLoRA on both sides.*finetune: full.*export the parent merged/);
  });

  it("lets plain LoRA and rsLoRA chain, full fine-tuning chain from anything, and any run start from a model", () => {
    expect(() => checkChainable(adapter(false), "lora", "rslora")).not.toThrow();
    expect(() => checkChainable(adapter(true), "full", undefined)).not.toThrow();
    expect(() => checkChainable({ run: null, path: "/models/merged", kind: "model" }, "lora", "dora")).not.toThrow();
  });
});
