import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AnyMessageSchema, CommandSchema, EventSchema, encodeCommand, parseEventLine } from "../../../engine/protocol/messages";
import { validateConfig } from "../../../engine/config/load";

const dir = join(__dirname, "../../fixtures/protocol");
/** Every command type the engine can send, from its own schema. */
const COMMAND_TYPES: string[] = CommandSchema.options.map((o) => o.shape.type.value);
const lines = (f: string) => readFileSync(join(dir, f), "utf8").split("\n").filter(Boolean);

describe("protocol v1 golden file", () => {
  const golden = lines("golden-v1.jsonl");

  it("has an example of every command and event type", () => {
    const types = new Set(golden.map((l) => (JSON.parse(l) as { type: string }).type));
    for (const t of ["train", "resume", "cancel", "generate", "audit", "export", "pull", "push", "merge", "bench", "synth", "shutdown", "hello", "progress", "metrics", "checkpoint", "log", "generation", "token", "candidate", "done", "error"]) {
      expect(types, t).toContain(t);
    }
  });

  it.each(golden.map((l, i) => [i + 1, l]))("line %i parses", (_, line) => {
    const msg = JSON.parse(line as string) as { type: string };
    const isCommand = COMMAND_TYPES.includes(msg.type);
    const result = (isCommand ? CommandSchema : EventSchema).safeParse(msg);
    expect(result.success, JSON.stringify(result.error?.issues)).toBe(true);
  });

  it("every event line goes through the engine's line parser", () => {
    for (const line of golden) {
      const type = (JSON.parse(line) as { type: string }).type;
      if (COMMAND_TYPES.includes(type)) continue;
      expect(parseEventLine(line)).toMatchObject({ ok: true });
    }
  });

  it("the train command's config is exactly what the engine resolves from its own input", () => {
    const train = golden.map((l) => JSON.parse(l)).find((m) => m.type === "train");
    // Re-validating the resolved config must be a fixed point: no field added, dropped or changed.
    expect(validateConfig(train.config, { checkPaths: false })).toEqual(train.config);
  });

  it("commands round-trip through the encoder", () => {
    for (const line of golden) {
      const msg = JSON.parse(line);
      if (!CommandSchema.safeParse(msg).success) continue;
      expect(JSON.parse(encodeCommand(msg))).toEqual(msg);
    }
  });
});

describe("protocol v1 invalid messages", () => {
  it.each(lines("invalid-v1.jsonl").map((l, i) => [i + 1, l]))("line %i is rejected", (_, line) => {
    expect(AnyMessageSchema.safeParse(JSON.parse(line as string)).success).toBe(false);
  });

  it("reports unknown event types without failing", () => {
    expect(parseEventLine('{"v":1,"type":"telemetry","x":1}')).toMatchObject({ ok: false, unknownType: "telemetry" });
    expect(parseEventLine("Some library printed this")).toMatchObject({ ok: false, reason: "not JSON" });
  });
});
