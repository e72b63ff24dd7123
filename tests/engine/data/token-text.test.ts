/**
 * Token texts decode whole characters: the tiny model's byte-level BPE splits ’ — é 数 😀 into one
 * token per byte, so decoding token by token showed "I���ll". The preview must show "I’ll".
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { previewDataset } from "../../../engine/data/preview";
import { tokenTexts } from "../../../engine/data/token-text";
import { loadChatTokenizer, type ChatTokenizer } from "../../../engine/data/tokenizer";
import { ensureTinyModel } from "../../helpers/fixture";

const TEXT = "I’ll go — café 数据 😀 done";
let model: string;
let tok: ChatTokenizer;

beforeAll(async () => {
  model = ensureTinyModel();
  tok = await loadChatTokenizer(model);
});

describe("tokenTexts", () => {
  it("holds back the bytes of a split character and shows it whole on the token that completes it", () => {
    const ids = tok.encode([TEXT])[0]!;
    expect(ids.some((id) => tok.decode([id]).includes("\uFFFD"))).toBe(true); // the bug's condition holds here
    const texts = tokenTexts((x) => tok.decode(x), ids);
    expect(texts).toHaveLength(ids.length);
    expect(texts.join("")).toBe(TEXT);
    expect(texts.some((t) => t.includes("\uFFFD"))).toBe(false);
    expect(texts).toContain("’");
    expect(texts).toContain("😀");
  });

  it("a sequence cut inside a character shows the replacement mark at its end, nothing lost before", () => {
    const ids = tok.encode(["Say “hi"])[0]!;
    const cut = tok.encode(["Say “"])[0]!.slice(0, -1);
    expect(ids.slice(0, cut.length)).toEqual(cut);
    const texts = tokenTexts((x) => tok.decode(x), cut);
    expect(texts.join("")).toBe(tok.decode(cut));
    expect(texts.at(-1)!.endsWith("\uFFFD")).toBe(true);
  });
});

describe("previewDataset", () => {
  it("shows a curly apostrophe whole, and the token texts add up to the rendered sample", async () => {
    const dir = mkdtempSync(join(tmpdir(), "whetstone-token-text-"));
    const file = join(dir, "chat.jsonl");
    writeFileSync(file, JSON.stringify({ messages: [{ role: "user", content: "Will you come?" }, { role: "assistant", content: "I’ll be there — promise." }] }) + "\n");
    const p = await previewDataset(file, { model, index: 0 });
    const all = p.tokens.map((t) => t.text).join("");
    expect(all).toContain("I’ll be there — promise.");
    expect(all).toBe(tok.decode(p.tokens.map((t) => t.id)));
    expect(p.tokens.some((t) => t.text.includes("\uFFFD"))).toBe(false);
    const trained = p.tokens.filter((t) => t.trained).map((t) => t.text).join("");
    expect(trained).toContain("I’ll be there — promise.");
  });
});
