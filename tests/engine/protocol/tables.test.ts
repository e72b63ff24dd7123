/** The lists both sides of the protocol define agree with the shared table (the worker checks its own against the same file). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FINETUNES, LORA_VARIANTS, PREFERENCE_METHODS, RewardSchema, RunConfigSchema } from "../../../engine/config/schema";
import { METHOD_TABLE, type MethodRow } from "../../../engine/config/methods";
import { EXPORT_DTYPES, EXPORT_FORMATS, GGUF_QUANTIZATIONS } from "../../../engine/export/schema";
import { ExportCommand } from "../../../engine/protocol/messages";

const tables = JSON.parse(readFileSync(join(__dirname, "../../fixtures/protocol/tables-v1.json"), "utf8")) as Record<string, string[]> & { preference_method_rows: Record<string, unknown> };

describe("the protocol's shared tables", () => {
  it("the engine's lists are the table's", () => {
    expect({
      preference_methods: PREFERENCE_METHODS,
      export_formats: EXPORT_FORMATS,
      export_dtypes: EXPORT_DTYPES,
      gguf_quantizations: GGUF_QUANTIZATIONS,
      finetunes: FINETUNES,
      lora_variants: LORA_VARIANTS,
      reward_types: RewardSchema.options.map((o) => o.shape.type.value),
    }).toEqual(Object.fromEntries(Object.entries(tables).filter(([k]) => k !== "_" && k !== "preference_method_rows")));
  });

  it("the engine's method rows are the table's (the worker's rows are checked against the same file)", () => {
    const rows = Object.fromEntries(
      PREFERENCE_METHODS.map((m) => {
        const row: MethodRow = METHOD_TABLE[m];
        return [m, { paired: row.trains[0] === "preference", needs_reference: row.reference !== "never", sft_term: row.sftTerm }];
      }),
    );
    expect(rows).toEqual(tables.preference_method_rows);
  });

  it("the config schema and the export command are built from those lists", () => {
    expect(RunConfigSchema.shape.method.unwrap().options).toEqual(["sft", ...tables.preference_methods!]);
    expect(RunConfigSchema.shape.finetune.unwrap().options).toEqual(tables.finetunes);
    expect(ExportCommand.shape.format.options).toEqual(tables.export_formats);
    expect(ExportCommand.shape.dtype.options).toEqual(tables.export_dtypes);
  });
});
