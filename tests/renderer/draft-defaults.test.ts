/** The wizard's defaults are the config schema's: an untouched draft trains what a minimal config file trains. */
import { describe, expect, it } from "vitest";
import { DEFAULT_DRAFT, PREFERENCE_SETTINGS, dataKindFor, draftToConfig, isPreferenceMethod } from "../../renderer/src/lib/draft";
import { PAIR_METHODS, PREFERENCE_FIELDS, PREFERENCE_METHODS, RunConfigSchema } from "../../engine/config/schema";

describe("the wizard's draft", () => {
  it("untouched, resolves to the same config as a file with only a model and data", () => {
    const fromWizard = RunConfigSchema.parse(draftToConfig({ ...DEFAULT_DRAFT, modelPath: "/m", dataPath: "/d.jsonl" }));
    const fromFile = RunConfigSchema.parse({ name: DEFAULT_DRAFT.name, model: { path: "/m" }, data: { train: "/d.jsonl" } });
    // The wizard says "skip invalid rows: no" where a file leaves it unset (the same: refuse invalid data).
    expect({ ...fromWizard, data: { ...fromWizard.data, skip_invalid: undefined } }).toEqual({ ...fromFile, data: { ...fromFile.data, skip_invalid: undefined } });
    expect(fromWizard.data.skip_invalid).toBe(false);
  });

  it("knows every method of the schema, and each preference method's settings", () => {
    for (const m of PREFERENCE_METHODS) expect(isPreferenceMethod(m)).toBe(true);
    expect(isPreferenceMethod("sft")).toBe(false);
    expect(PAIR_METHODS.map(dataKindFor)).toEqual(PAIR_METHODS.map(() => "preference"));
    expect(PREFERENCE_METHODS.filter((m) => !(PAIR_METHODS as readonly string[]).includes(m)).map(dataKindFor)).toEqual(["unpaired", "prompt"]);
    expect(dataKindFor("sft")).toBe("chat");
    expect(Object.keys(PREFERENCE_SETTINGS).sort()).toEqual([...PREFERENCE_METHODS].sort());
    for (const m of PREFERENCE_METHODS) {
      const settings = PREFERENCE_SETTINGS[m]!;
      expect(settings.length).toBeGreaterThan(0);
      for (const k of settings) expect(Object.keys(PREFERENCE_FIELDS[m])).toContain(k);
    }
  });
});
