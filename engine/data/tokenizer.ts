/**
 * The base model's own tokenizer and chat template, from local files only, through
 * @huggingface/transformers (imported lazily: it is only needed when a model is given).
 *
 * The template is looked up as transformers 5 does: chat_template.jinja, then chat_template.json,
 * then tokenizer_config.json's chat_template (a string, or named templates of which "default" is
 * used). It is passed explicitly to apply_chat_template, because transformers.js reads only the
 * tokenizer_config.json field.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { WhetstoneError } from "../util/errors";
import type { Message } from "./types";

export interface ChatTokenizer {
  dir: string;
  /** The chat template, or null when the model has none (then only text can be tokenized). */
  template: string | null;
  templateSource: string | null;
  eosToken: string | null;
  /** `tools` (function schemas) is passed to the template as transformers' `tools=`. */
  render(messages: Message[], addGenerationPrompt: boolean, tools?: unknown[]): string;
  /** Whether the template mentions `tools` at all (a template that does not drops them silently). */
  rendersTools: boolean;
  /** Token ids of each text, without special tokens added. */
  encode(texts: string[]): number[][];
  decode(ids: number[]): string;
}

const loaded = new Map<string, Promise<ChatTokenizer>>();

export function loadChatTokenizer(modelDir: string): Promise<ChatTokenizer> {
  const dir = resolve(modelDir);
  let p = loaded.get(dir);
  if (!p) {
    p = load(dir);
    loaded.set(dir, p);
    p.catch(() => loaded.delete(dir));
  }
  return p;
}

async function load(dir: string): Promise<ChatTokenizer> {
  if (!existsSync(join(dir, "tokenizer.json"))) {
    throw new WhetstoneError({
      code: "MODEL_NO_TOKENIZER",
      message: `No tokenizer.json in ${dir}`,
      hint: "Point --model (model.path) at a Hugging Face model folder with tokenizer.json and tokenizer_config.json.",
      where: dir,
    });
  }
  const { AutoTokenizer, env } = await import("@huggingface/transformers");
  env.allowRemoteModels = false;
  let tok: Awaited<ReturnType<typeof AutoTokenizer.from_pretrained>>;
  try {
    tok = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
  } catch (e) {
    throw new WhetstoneError({ code: "MODEL_NO_TOKENIZER", message: `The tokenizer in ${dir} does not load: ${(e as Error).message}`, hint: "Check tokenizer.json and tokenizer_config.json.", where: dir });
  }
  const found = findTemplate(dir);
  return {
    dir,
    template: found?.template ?? null,
    templateSource: found?.source ?? null,
    eosToken: tok.eos_token ?? null,
    rendersTools: found !== null && /\btools\b/.test(found.template),
    render(messages, addGenerationPrompt, tools) {
      if (!found) throw noTemplate(dir);
      // A conversation with no turns renders nothing sensible in any template; the scan refuses such rows first.
      return tok.apply_chat_template(messages as unknown as Parameters<typeof tok.apply_chat_template>[0], {
        tokenize: false,
        add_generation_prompt: addGenerationPrompt,
        chat_template: found.template,
        ...(tools?.length ? { tools: tools as Record<string, unknown>[] } : {}),
      }) as string;
    },
    encode(texts) {
      return texts.map((t) => tok.encode(t, { add_special_tokens: false }));
    },
    decode(ids) {
      return tok.decode(ids, { skip_special_tokens: false });
    },
  };
}

export function noTemplate(dir: string): WhetstoneError {
  return new WhetstoneError({
    code: "TEMPLATE_MISSING",
    message: `The tokenizer in ${dir} has no chat template, so conversations cannot be rendered.`,
    hint: "Use a chat/instruct model, or add a chat_template.jinja to the model folder.",
    where: dir,
  });
}

function findTemplate(dir: string): { template: string; source: string } | null {
  const jinja = join(dir, "chat_template.jinja");
  if (existsSync(jinja)) return { template: readFileSync(jinja, "utf8"), source: "chat_template.jinja" };
  for (const name of ["chat_template.json", "tokenizer_config.json"]) {
    const file = join(dir, name);
    if (!existsSync(file)) continue;
    const t = (JSON.parse(readFileSync(file, "utf8")) as { chat_template?: unknown }).chat_template;
    if (typeof t === "string") return { template: t, source: name };
    if (Array.isArray(t)) {
      const named = t.find((x: { name?: string }) => x?.name === "default") as { template?: string } | undefined;
      if (typeof named?.template === "string") return { template: named.template, source: `${name} (default)` };
    }
  }
  return null;
}
