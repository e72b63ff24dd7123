/**
 * One sample as training will see it: rendered through the base model's chat template, cut into
 * tokens, with the trained (assistant) tokens and the goldfish-dropped tokens marked, by the same
 * rules as the worker (segments.ts, goldfish.ts). The sample is found by its 0-based index among
 * the dataset's records, streaming, so a preview of row 10 does not read the whole file. Token
 * texts are decoded in context (token-text.ts), so a character split across tokens shows whole.
 */
import { WhetstoneError } from "../util/errors";
import { goldfishDropMask, goldfishTable, type GoldfishOptions } from "./goldfish";
import { PreviewOptionsSchema, type PreviewOptions, type SamplePreview } from "./report";
import { scanDataset, type ScannedRow } from "./scan";
import { tokenizeChat, type TokenizedChat } from "./segments";
import { tokenTexts } from "./token-text";
import { loadChatTokenizer, noTemplate } from "./tokenizer";
import type { Message } from "./types";

export async function previewDataset(path: string, input: PreviewOptions): Promise<SamplePreview> {
  const opts = PreviewOptionsSchema.parse(input);
  const tok = await loadChatTokenizer(opts.model);
  if (!tok.template) throw noTemplate(tok.dir);
  let found: ScannedRow | null = null;
  let seen = 0;
  await scanDataset(path, {
    format: opts.format,
    schema: opts.schema,
    columns: opts.columns,
    roles: opts.roles,
    onRow: (row) => {
      seen = row.index + 1;
      if (row.index !== opts.index) return true;
      found = row;
      return false;
    },
  });
  const row = found as ScannedRow | null;
  if (!row) {
    throw new WhetstoneError({
      code: "DATA_INDEX",
      message: `${path} has ${seen} record${seen === 1 ? "" : "s"}; there is no index ${opts.index}`,
      hint: `Use --index from 0 to ${Math.max(0, seen - 1)}.`,
      where: path,
    });
  }
  const maxLength = opts.maxLength ?? 1024;
  const overlong = opts.overlong ?? "drop";
  const base = { index: row.index, file: row.file, line: row.line, row: row.row, ...(row.element !== undefined ? { element: row.element } : {}), schema: row.schema, sample: row.sample, issues: row.issues, template_source: tok.templateSource };
  const sample = row.sample;
  if (sample && "fields" in sample) {
    // A grpo prompt, as the model sees it before it answers (with the template's generation prompt): nothing in it is trained.
    const ids = tok.encode([tok.render(sample.prompt, true, sample.tools)])[0]!;
    const texts = tokenTexts((x) => tok.decode(x), ids);
    return { ...base, tokens: ids.map((id, i) => ({ id, text: texts[i]!, trained: false, dropped: false })), length: ids.length, truncated: false, dropped: null, trained_tokens: 0, goldfish: null };
  }
  const messages: Message[] | null = !sample ? null : "messages" in sample ? sample.messages : "chosen" in sample ? [...sample.prompt, ...sample.chosen] : null;
  if (!messages) {
    const ids = sample && "text" in sample ? tok.encode([sample.text])[0]! : [];
    const texts = tokenTexts((x) => tok.decode(x), ids);
    return { ...base, tokens: ids.map((id, i) => ({ id, text: texts[i]!, trained: false, dropped: false })), length: ids.length, truncated: false, dropped: null, trained_tokens: 0, goldfish: null };
  }
  let t: TokenizedChat;
  try {
    t = tokenizeChat(tok, messages, maxLength, overlong);
  } catch (e) {
    throw new WhetstoneError({ code: "DATA_TEMPLATE_ERROR", message: `The chat template cannot render record ${row.index}: ${(e as Error).message}`, hint: "Check the roles and their order against the model's chat template.", where: row.file });
  }
  const goldfish = opts.goldfish ? await goldfishMask(t, opts.goldfish) : null;
  const texts = tokenTexts((x) => tok.decode(x), t.ids);
  const tokens = Array.from(t.ids, (id, i) => ({ id, text: texts[i]!, trained: t.trained[i] === 1, dropped: goldfish?.mask?.[i] === 1 && t.trained[i] === 1 }));
  return {
    ...base,
    tokens,
    length: t.length,
    truncated: t.truncated,
    dropped: t.dropped,
    trained_tokens: t.nTrained,
    goldfish: goldfish ? { ...goldfish.cfg, dropped_tokens: goldfish.mask ? tokens.slice(1).filter((x) => x.dropped).length : null, ...(goldfish.note ? { note: goldfish.note } : {}) } : null,
  };
}

async function goldfishMask(t: TokenizedChat, cfg: GoldfishOptions): Promise<{ cfg: GoldfishOptions; mask: Uint8Array | null; note?: string }> {
  if (cfg.variant === "random") return { cfg, mask: null, note: `the random variant draws a new mask every epoch: about 1 in ${cfg.k} trained tokens are left out` };
  const table = cfg.variant === "hashed" ? await goldfishTable() : undefined;
  return { cfg, mask: goldfishDropMask(t.ids, cfg, table) };
}
