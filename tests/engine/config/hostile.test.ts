/**
 * Configs that other tools get wrong: values YAML reads as not-a-number or absurdly large, JSON that
 * only a forgiving parser accepts, a shortened key, a model that ships its own code. Each is
 * refused once, naming the field or the line and column, and README's example is what the CLI prints.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadConfigFile } from "../../../engine/config/file";
import { PROJECT_ROOT } from "../../../engine/paths";
import { WhetstoneError } from "../../../engine/util/errors";
import { ensureTinyModel, TINY_DATA, TINY_MODEL } from "../../helpers/fixture";

beforeAll(() => {
  ensureTinyModel();
});

function refusal(name: string, text: string): { err: WhetstoneError; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "whetstone-config-"));
  writeFileSync(join(dir, name), text);
  try {
    loadConfigFile(join(dir, name));
  } catch (e) {
    if (e instanceof WhetstoneError) return { err: e, dir };
    throw e;
  }
  throw new Error(`${name} was accepted`);
}

const head = `model:\n  path: ${TINY_MODEL}\ndata:\n  train: ${TINY_DATA}\ntraining:\n`;

describe("hostile configs", () => {
  it("names a YAML .nan as not-a-number (JSON.stringify would say null)", () => {
    const { err } = refusal("nan.yaml", `${head}  learning_rate: .nan\n`);
    expect(err.message).toContain("training.learning_rate must be a number, got NaN (not a number)");
    expect(err.message).not.toContain("null");
  });

  it("reports 1e300 for an integer field once, by the field's own limit", () => {
    const seed = refusal("big.yaml", `${head}  seed: 1e300\n`).err;
    expect(seed.message).toMatch(/^The config has 1 problem: training.seed must be <= 4294967295, got 1e\+300/);
    expect(seed.details).toBeUndefined();
    const steps = refusal("steps.yaml", `${head}  max_steps: 1e300\n`).err;
    expect(steps.message).toContain("The config has 1 problem: training.max_steps must be a whole number, got 1e+300 (far too large)");
  });

  it("refuses a JSON config with a trailing comma at the comma's line and column", () => {
    const text = `{\n  "model": {"path": ${JSON.stringify(TINY_MODEL)}},\n  "data": {"train": ${JSON.stringify(TINY_DATA)},}\n}\n`;
    const { err, dir } = refusal("trailing.json", text);
    expect(err.code).toBe("CONFIG_SYNTAX");
    expect(err.message).toContain("trailing comma");
    const line3 = text.split("\n")[2]!;
    expect(err.where).toBe(`${join(dir, "trailing.json")}:3:${line3.lastIndexOf(",") + 1}`);
    expect(err.hint).toContain("Remove the comma");
  });

  it("prints README's config error example exactly, did-you-mean included", () => {
    const readme = readFileSync(join(PROJECT_ROOT, "README.md"), "utf8");
    const block = /```\n\$ whetstone train bad\.yaml\n([\s\S]*?)```/.exec(readme)![1]!.trimEnd();
    const { err, dir } = refusal("bad.yaml", `${head}  micro_batch_size: 0\n  warmup: 3\n`);
    expect(err.format().split(dir).join("/home/me")).toBe(block);
  });

  it("refuses a model with its own code (auto_map) before any run exists, naming model.trust_remote_code and its risk", () => {
    const dir = mkdtempSync(join(tmpdir(), "whetstone-custom-"));
    const model = join(dir, "whale");
    cpSync(TINY_MODEL, model, { recursive: true });
    const config = JSON.parse(readFileSync(join(model, "config.json"), "utf8"));
    writeFileSync(join(model, "config.json"), JSON.stringify({ ...config, model_type: "whale", auto_map: { AutoModelForCausalLM: "modeling_whale.WhaleForCausalLM" } }));
    const { err } = refusal("custom.yaml", `model:\n  path: ${model}\ndata:\n  train: ${TINY_DATA}\n`);
    expect(err.code).toBe("MODEL_CUSTOM_CODE");
    expect(err.message).toContain("WhaleForCausalLM");
    expect(err.hint).toContain("model.trust_remote_code: true");
    expect(err.hint).toContain("your user's rights");
    writeFileSync(join(dir, "trusted.yaml"), `model:\n  path: ${model}\n  trust_remote_code: true\ndata:\n  train: ${TINY_DATA}\n`);
    expect(loadConfigFile(join(dir, "trusted.yaml")).config.model.trust_remote_code).toBe(true);
  });
});
