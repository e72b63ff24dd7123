/**
 * Evaluation prompts: the run's held-out conversations by default, or a prompt file. A prompt is a
 * conversation up to (not including) its last assistant answer; that answer, when there is one, is
 * kept as the reference. Files: `.txt` (one prompt a line), JSONL/JSON of {messages} or {prompt}
 * (a prompt alone is enough), or any dataset file `whetstone data check` reads.
 */
import { existsSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import { scanDataset } from "../data/scan";
import type { RunStore } from "../runs/store";
import { WhetstoneError } from "../util/errors";

export interface ChatMessage {
  role: string;
  content: string;
}

export interface EvalPrompt {
  messages: ChatMessage[];
  reference: string | null;
  /** file:line */
  where: string;
}

export interface PromptSet {
  source: string;
  prompts: EvalPrompt[];
  available: number;
}

/** Cut a conversation before its last assistant answer; null when nothing is left to prompt with. */
export function toPrompt(messages: ChatMessage[], where: string): EvalPrompt | null {
  const last = messages.map((m) => m.role).lastIndexOf("assistant");
  const cut = last >= 0 && last === messages.length - 1 ? messages.slice(0, last) : messages;
  if (!cut.some((m) => m.role === "user")) return null;
  return { messages: cut, reference: last >= 0 && last === messages.length - 1 ? messages[last]!.content : null, where };
}

export async function loadPrompts(store: RunStore, runId: string, file: string | null, limit: number): Promise<PromptSet> {
  if (file === null) {
    const held = join(store.runDir(runId), "data", "validation.jsonl");
    if (!existsSync(held)) {
      throw new WhetstoneError({
        code: "EVAL_NO_PROMPTS",
        message: `Run ${runId} has no held-out split to evaluate on.`,
        hint: "Pass a prompt file with --prompts FILE, or train with data.validation_split (e.g. 0.1) or data.validation so the run keeps held-out conversations.",
      });
    }
    return cap(fromJsonl(held), "held-out split (data/validation.jsonl)", limit);
  }
  if (!existsSync(file)) throw new WhetstoneError({ code: "EVAL_PROMPTS_NOT_FOUND", message: `Prompt file not found: ${file}`, hint: "Give a .txt (one prompt a line), JSONL, JSON, CSV or Parquet file." });
  const ext = extname(file).toLowerCase();
  const prompts =
    ext === ".txt"
      ? readFileSync(file, "utf8")
          .split("\n")
          .map((line, i) => ({ line: line.trim(), i }))
          .filter((x) => x.line)
          .map((x) => ({ messages: [{ role: "user", content: x.line }], reference: null, where: `${file}:${x.i + 1}` }))
      : ext === ".jsonl" || ext === ".ndjson"
        ? fromJsonl(file)
        : await fromDataset(file);
  return cap(prompts, file, limit);
}

function cap(prompts: EvalPrompt[], source: string, limit: number): PromptSet {
  if (prompts.length === 0) throw new WhetstoneError({ code: "EVAL_NO_PROMPTS", message: `No usable prompt in ${source}.`, hint: "Each prompt needs a user turn." });
  return { source, prompts: prompts.slice(0, limit), available: prompts.length };
}

function fromJsonl(path: string): EvalPrompt[] {
  const out: EvalPrompt[] = [];
  readFileSync(path, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (!line.trim()) return;
      const where = `${path}:${i + 1}`;
      let row: { messages?: unknown; prompt?: unknown; system?: unknown };
      try {
        row = JSON.parse(line);
      } catch (e) {
        throw new WhetstoneError({ code: "EVAL_PROMPTS_INVALID", message: `${where}: not JSON (${(e as Error).message}).`, hint: "One JSON object a line: {\"messages\": [...]} or {\"prompt\": \"...\"}.", where });
      }
      const messages = Array.isArray(row.messages)
        ? (row.messages as ChatMessage[])
        : typeof row.prompt === "string"
          ? [...(typeof row.system === "string" ? [{ role: "system", content: row.system }] : []), { role: "user", content: row.prompt }]
          : Array.isArray(row.prompt)
            ? (row.prompt as ChatMessage[])
            : null;
      if (!messages || !messages.every((m) => m && typeof m.role === "string" && typeof m.content === "string")) {
        throw new WhetstoneError({ code: "EVAL_PROMPTS_INVALID", message: `${where}: expected {"messages": [{role, content}, …]} or {"prompt": "…"}.`, hint: "Fix that line, or convert the file with `whetstone data check`.", where });
      }
      const prompt = toPrompt(messages.map((m) => ({ role: m.role, content: m.content })), where);
      if (prompt) out.push(prompt);
    });
  return out;
}

async function fromDataset(path: string): Promise<EvalPrompt[]> {
  const out: EvalPrompt[] = [];
  const scan = await scanDataset(path, {
    onRow: (row) => {
      if (row.sample && "messages" in row.sample) {
        const p = toPrompt(row.sample.messages, `${row.file}:${row.line ?? row.row}`);
        if (p) out.push(p);
      }
    },
  });
  if (scan.blocking.length) {
    const first = scan.blocking[0]!;
    throw new WhetstoneError({ code: "EVAL_PROMPTS_INVALID", message: `${path}: ${first.message}`, hint: "`whetstone data check` lists every problem with its fix." });
  }
  return out;
}
